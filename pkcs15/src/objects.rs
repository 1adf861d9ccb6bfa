//! The PKCS#15 structures: types, lenient decoders, DER encoders.

use crate::tlv::{
    bit_flags, boolean, concat, decode_bit_flags, decode_bool, decode_integer, decode_text,
    decode_u32, integer, match_fields, required, tlv, Reader, Tlv,
};
use crate::{Error, ObjectIdentifier, Result};

// Universal and context tags used below (single identifier byte).
const BOOLEAN: u32 = 0x01;
const INTEGER: u32 = 0x02;
const BIT_STRING: u32 = 0x03;
const OCTET_STRING: u32 = 0x04;
const OID: u32 = 0x06;
const ENUMERATED: u32 = 0x0A;
const UTF8_STRING: u32 = 0x0C;
const GENERALIZED_TIME: u32 = 0x18;
const SEQUENCE: u32 = 0x30;
const CTX0_PRIM: u32 = 0x80;
const CTX0: u32 = 0xA0;
const CTX1: u32 = 0xA1;
const CTX5: u32 = 0xA5;

/// CommonObjectFlags.
pub mod object_flags {
    pub const PRIVATE: u32 = 1 << 0;
    pub const MODIFIABLE: u32 = 1 << 1;
}

/// TokenFlags.
pub mod token_flags {
    pub const READ_ONLY: u32 = 1 << 0;
    pub const LOGIN_REQUIRED: u32 = 1 << 1;
    pub const PRN_GENERATION: u32 = 1 << 2;
    pub const EID_COMPLIANT: u32 = 1 << 3;
}

/// PinFlags.
pub mod pin_flags {
    pub const CASE_SENSITIVE: u32 = 1 << 0;
    pub const LOCAL: u32 = 1 << 1;
    pub const CHANGE_DISABLED: u32 = 1 << 2;
    pub const UNBLOCK_DISABLED: u32 = 1 << 3;
    pub const INITIALIZED: u32 = 1 << 4;
    pub const NEEDS_PADDING: u32 = 1 << 5;
    pub const UNBLOCKING_PIN: u32 = 1 << 6;
    pub const SO_PIN: u32 = 1 << 7;
    pub const DISABLE_ALLOWED: u32 = 1 << 8;
    pub const INTEGRITY_PROTECTED: u32 = 1 << 9;
    pub const CONFIDENTIALITY_PROTECTED: u32 = 1 << 10;
    pub const EXCHANGE_REF_DATA: u32 = 1 << 11;
}

/// KeyUsageFlags.
pub mod key_usage {
    pub const ENCRYPT: u32 = 1 << 0;
    pub const DECRYPT: u32 = 1 << 1;
    pub const SIGN: u32 = 1 << 2;
    pub const SIGN_RECOVER: u32 = 1 << 3;
    pub const WRAP: u32 = 1 << 4;
    pub const UNWRAP: u32 = 1 << 5;
    pub const VERIFY: u32 = 1 << 6;
    pub const VERIFY_RECOVER: u32 = 1 << 7;
    pub const DERIVE: u32 = 1 << 8;
    pub const NON_REPUDIATION: u32 = 1 << 9;
}

/// KeyAccessFlags.
pub mod key_access {
    pub const SENSITIVE: u32 = 1 << 0;
    pub const EXTRACTABLE: u32 = 1 << 1;
    pub const ALWAYS_SENSITIVE: u32 = 1 << 2;
    pub const NEVER_EXTRACTABLE: u32 = 1 << 3;
    pub const LOCAL: u32 = 1 << 4;
}

/// Named curve OIDs.
pub mod curves {
    use crate::ObjectIdentifier;
    pub const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
    pub const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
    pub const P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
}

fn expect_tag(found: &Tlv<'_>, expected: u32) -> Result<()> {
    if found.tag == expected {
        Ok(())
    } else {
        Err(Error::UnexpectedTag {
            expected,
            found: found.tag,
        })
    }
}

/// The first TLV of `data` (a file that may be padded after it), which must carry `tag`.
fn first_tlv(data: &[u8], tag: u32) -> Result<Tlv<'_>> {
    let first = Reader::new(data).next_tlv()?;
    expect_tag(&first, tag)?;
    Ok(first)
}

/// `Some(text)` → `tag { UTF-8 }`.
fn opt_text(tag: u8, text: &Option<String>) -> Vec<u8> {
    text.as_ref()
        .map(|t| tlv(tag, t.as_bytes()))
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------
// Path

/// `Path ::= SEQUENCE { path OCTET STRING, index INTEGER OPTIONAL, length [0] INTEGER
/// OPTIONAL }`; index and length are present together or not at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path {
    /// FIDs from the MF (starting `3F00`), or relative to the application DF.
    pub path: Vec<u8>,
    pub index: Option<u32>,
    pub length: Option<u32>,
}

impl Path {
    pub fn new(path: &[u8]) -> Self {
        Path {
            path: path.to_vec(),
            index: None,
            length: None,
        }
    }

    /// A path with `index` 0 and `length`, so a reader knows how much to read.
    pub fn with_length(path: &[u8], length: u32) -> Self {
        Path {
            path: path.to_vec(),
            index: Some(0),
            length: Some(length),
        }
    }

    /// The path as FIDs (pairs of bytes); `None` for an odd length.
    pub fn fids(&self) -> Option<Vec<u16>> {
        if self.path.len() % 2 != 0 {
            return None;
        }
        Some(
            self.path
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect(),
        )
    }

    /// FIDs from the MF (starting `3F00`): an absolute path as is, a relative one
    /// appended to `app_df` (the PKCS#15 application DF's absolute path, e.g.
    /// `[0x3F00, 0x3D00]`), as ISO 7816-15 says for paths not starting with `3F00`.
    pub fn absolute_fids(&self, app_df: &[u16]) -> Option<Vec<u16>> {
        let fids = self.fids()?;
        if fids.is_empty() {
            return None;
        }
        if fids[0] == 0x3F00 {
            Some(fids)
        } else {
            Some(app_df.iter().copied().chain(fids).collect())
        }
    }

    fn decode(content: &[u8]) -> Result<Self> {
        let [path, index, length] = match_fields(content, [OCTET_STRING, INTEGER, CTX0_PRIM])?;
        Ok(Path {
            path: required(path, "Path.path")?.value.to_vec(),
            index: index.map(|t| decode_u32(t.value)).transpose()?,
            length: length.map(|t| decode_u32(t.value)).transpose()?,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut content = tlv(0x04, &self.path);
        // The ASN.1 constraint wants both or neither; an index alone is written with it.
        if self.index.is_some() || self.length.is_some() {
            content.extend(integer(0x02, u64::from(self.index.unwrap_or(0))));
        }
        if let Some(length) = self.length {
            content.extend(integer(0x80, u64::from(length)));
        }
        tlv(0x30, &content)
    }
}

/// `ObjectValue`: where an object's value is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObjectValue {
    /// `indirect` value: a file.
    Path(Path),
    /// `direct [0]` value: the content octets of the `[0]` tag.
    Direct(Vec<u8>),
}

impl ObjectValue {
    /// The path, if the value is in a file.
    pub fn path(&self) -> Option<&Path> {
        match self {
            ObjectValue::Path(p) => Some(p),
            ObjectValue::Direct(_) => None,
        }
    }

    fn decode(field: &Tlv<'_>) -> Result<Self> {
        match field.tag {
            SEQUENCE => Ok(ObjectValue::Path(Path::decode(field.value)?)),
            CTX0 => Ok(ObjectValue::Direct(field.value.to_vec())),
            _ => Err(Error::Invalid("ObjectValue choice")),
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            ObjectValue::Path(p) => p.encode(),
            ObjectValue::Direct(content) => tlv(0xA0, content),
        }
    }
}

/// Splits the value (the first element: a `Path` SEQUENCE or a `[0]` direct value) from
/// the rest of a type-attributes SEQUENCE.
fn split_value(content: &[u8]) -> Result<(ObjectValue, &[u8])> {
    let mut reader = Reader::new(content);
    if reader.is_empty() {
        return Err(Error::Missing("value"));
    }
    let first = reader.next_tlv()?;
    Ok((ObjectValue::decode(&first)?, reader.remaining()))
}

// ---------------------------------------------------------------------------------
// EF.DIR

/// An application template `61 { 4F aid, 50 label, 51 path }` from EF.DIR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirRecord {
    pub aid: Vec<u8>,
    pub label: Option<String>,
    pub path: Option<Vec<u8>>,
}

impl DirRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut content = tlv(0x4F, &self.aid);
        content.extend(opt_text(0x50, &self.label));
        if let Some(path) = &self.path {
            content.extend(tlv(0x51, path));
        }
        tlv(0x61, &content)
    }
}

/// EF.DIR records (application templates); other records are skipped.
pub fn parse_dir_records(data: &[u8]) -> Result<Vec<DirRecord>> {
    let mut out = Vec::new();
    for record in Reader::new(data).records()? {
        if record.tag != 0x61 {
            continue;
        }
        let [aid, label, path] = match_fields(record.value, [0x4F, 0x50, 0x51])?;
        out.push(DirRecord {
            aid: required(aid, "DIR aid")?.value.to_vec(),
            label: label.map(|t| decode_text(t.value)),
            path: path.map(|t| t.value.to_vec()),
        });
    }
    Ok(out)
}

pub fn encode_dir_records(records: &[DirRecord]) -> Vec<u8> {
    concat(&records.iter().map(DirRecord::encode).collect::<Vec<_>>())
}

// ---------------------------------------------------------------------------------
// EF.ODF

/// Which directory file an ODF entry points to (`PKCS15Objects` CHOICE tag number).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OdfKind {
    PrivateKeys,
    PublicKeys,
    TrustedPublicKeys,
    SecretKeys,
    Certificates,
    TrustedCertificates,
    UsefulCertificates,
    DataObjects,
    AuthObjects,
    Other(u8),
}

impl OdfKind {
    fn from_number(n: u8) -> Self {
        match n {
            0 => OdfKind::PrivateKeys,
            1 => OdfKind::PublicKeys,
            2 => OdfKind::TrustedPublicKeys,
            3 => OdfKind::SecretKeys,
            4 => OdfKind::Certificates,
            5 => OdfKind::TrustedCertificates,
            6 => OdfKind::UsefulCertificates,
            7 => OdfKind::DataObjects,
            8 => OdfKind::AuthObjects,
            other => OdfKind::Other(other),
        }
    }

    fn number(self) -> u8 {
        match self {
            OdfKind::PrivateKeys => 0,
            OdfKind::PublicKeys => 1,
            OdfKind::TrustedPublicKeys => 2,
            OdfKind::SecretKeys => 3,
            OdfKind::Certificates => 4,
            OdfKind::TrustedCertificates => 5,
            OdfKind::UsefulCertificates => 6,
            OdfKind::DataObjects => 7,
            OdfKind::AuthObjects => 8,
            OdfKind::Other(n) => n,
        }
    }
}

/// One EF.ODF entry: `[n] PathOrObjects` with the `path` alternative.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OdfEntry {
    pub kind: OdfKind,
    pub path: Path,
}

impl OdfEntry {
    pub fn encode(&self) -> Vec<u8> {
        // Context tag on a CHOICE: explicit, constructed. Numbers ≤ 30 fit one byte.
        tlv(0xA0 | (self.kind.number() & 0x1F), &self.path.encode())
    }
}

/// EF.ODF: entries that carry a `Path`. Entries with objects inline (`[0]`), or tags
/// outside the single-byte context class, are skipped.
pub fn parse_odf(data: &[u8]) -> Result<Vec<OdfEntry>> {
    let mut out = Vec::new();
    for record in Reader::new(data).records()? {
        let is_context_constructed =
            record.tag <= 0xFF && record.tag & 0xE0 == 0xA0 && record.tag & 0x1F != 0x1F;
        if !is_context_constructed || record.value.is_empty() {
            continue;
        }
        let inner = Reader::new(record.value).next_tlv()?;
        if inner.tag != SEQUENCE {
            continue;
        }
        out.push(OdfEntry {
            kind: OdfKind::from_number((record.tag & 0x1F) as u8),
            path: Path::decode(inner.value)?,
        });
    }
    Ok(out)
}

/// The path of the first ODF entry of `kind`.
pub fn odf_path(entries: &[OdfEntry], kind: OdfKind) -> Option<&Path> {
    entries.iter().find(|e| e.kind == kind).map(|e| &e.path)
}

pub fn encode_odf(entries: &[OdfEntry]) -> Vec<u8> {
    concat(&entries.iter().map(OdfEntry::encode).collect::<Vec<_>>())
}

// ---------------------------------------------------------------------------------
// EF.TokenInfo

/// EF.TokenInfo (the fields the project uses; others are skipped when decoding).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenInfo {
    pub version: u32,
    /// Mandatory in the ASN.1; decoded as empty when a card omits it (OpenSC tolerates it).
    pub serial_number: Vec<u8>,
    pub manufacturer_id: Option<String>,
    pub label: Option<String>,
    /// `token_flags::*`.
    pub token_flags: u32,
    /// `lastUpdate` GeneralizedTime text, e.g. `20261124120000Z`.
    pub last_update: Option<String>,
}

impl TokenInfo {
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut content = integer(0x02, u64::from(self.version));
        content.extend(tlv(0x04, &self.serial_number));
        content.extend(opt_text(0x0C, &self.manufacturer_id));
        content.extend(opt_text(0x80, &self.label));
        content.extend(bit_flags(0x03, self.token_flags));
        if let Some(time) = &self.last_update {
            check_generalized_time(time)?;
            // lastUpdate [5] LastUpdate: a CHOICE, so explicitly tagged.
            content.extend(tlv(0xA5, &tlv(0x18, time.as_bytes())));
        }
        Ok(tlv(0x30, &content))
    }
}

fn check_generalized_time(time: &str) -> Result<()> {
    let b = time.as_bytes();
    let digits_ok = b.len() >= 15 && b[..14].iter().all(u8::is_ascii_digit);
    if digits_ok && b.last() == Some(&b'Z') {
        Ok(())
    } else {
        Err(Error::Invalid("GeneralizedTime (want YYYYMMDDHHMMSSZ)"))
    }
}

/// EF.TokenInfo; anything after the first TLV (padding) is ignored.
pub fn parse_token_info(data: &[u8]) -> Result<TokenInfo> {
    let outer = first_tlv(data, SEQUENCE)?;
    let [version, serial, manufacturer, label, label_explicit, flags, last_update] = match_fields(
        outer.value,
        [
            INTEGER,
            OCTET_STRING,
            UTF8_STRING,
            CTX0_PRIM,
            CTX0,
            BIT_STRING,
            CTX5,
        ],
    )?;
    // Some cards tag the label explicitly (`A0 { 0C .. }`), as OpenSC notes for one ID card.
    let label = match (label, label_explicit) {
        (Some(l), _) => Some(decode_text(l.value)),
        (None, Some(wrapped)) => {
            let inner = Reader::new(wrapped.value).next_tlv()?;
            Some(decode_text(inner.value))
        }
        (None, None) => None,
    };
    let last_update = match last_update {
        Some(t) => {
            let inner = Reader::new(t.value).next_tlv()?;
            // referencedTime (a Path to the time) is not followed.
            (inner.tag == GENERALIZED_TIME).then(|| decode_text(inner.value))
        }
        None => None,
    };
    Ok(TokenInfo {
        version: decode_u32(required(version, "TokenInfo.version")?.value)?,
        serial_number: serial.map(|t| t.value.to_vec()).unwrap_or_default(),
        manufacturer_id: manufacturer.map(|t| decode_text(t.value)),
        label,
        token_flags: flags
            .map(|t| decode_bit_flags(t.value))
            .transpose()?
            .unwrap_or(0),
        last_update,
    })
}

pub fn encode_token_info(info: &TokenInfo) -> Result<Vec<u8>> {
    info.encode()
}

// ---------------------------------------------------------------------------------
// Common object framing

/// CommonObjectAttributes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommonObjectAttributes {
    pub label: Option<String>,
    /// `object_flags::*`; 0 is written as absent.
    pub flags: u32,
    /// For keys: the PIN protecting the object. For a PIN: the PIN that unblocks it.
    pub auth_id: Option<Vec<u8>>,
    /// `userConsent`: the PIN must be presented before each use (this many uses).
    pub user_consent: Option<u32>,
}

impl CommonObjectAttributes {
    fn decode(content: &[u8]) -> Result<Self> {
        let [label, flags, auth_id, user_consent] =
            match_fields(content, [UTF8_STRING, BIT_STRING, OCTET_STRING, INTEGER])?;
        Ok(CommonObjectAttributes {
            label: label.map(|t| decode_text(t.value)),
            flags: flags
                .map(|t| decode_bit_flags(t.value))
                .transpose()?
                .unwrap_or(0),
            auth_id: auth_id.map(|t| t.value.to_vec()),
            user_consent: user_consent.map(|t| decode_u32(t.value)).transpose()?,
        })
    }

    fn encode(&self) -> Vec<u8> {
        let mut content = opt_text(0x0C, &self.label);
        if self.flags != 0 {
            content.extend(bit_flags(0x03, self.flags));
        }
        if let Some(id) = &self.auth_id {
            content.extend(tlv(0x04, id));
        }
        if let Some(n) = self.user_consent {
            content.extend(integer(0x02, u64::from(n)));
        }
        tlv(0x30, &content)
    }
}

/// The parts of `PKCS15Object ::= SEQUENCE { commonObjectAttributes, classAttributes,
/// subClassAttributes [0] OPTIONAL, typeAttributes [1] }` (content octets). The `[0]`
/// and `[1]` tags are explicit (tags on dummy parameters), so type attributes are
/// `A1 { 30 { .. } }`.
struct ObjectParts<'a> {
    common: CommonObjectAttributes,
    class: &'a [u8],
    type_attributes: &'a [u8],
}

fn decode_object(content: &[u8]) -> Result<ObjectParts<'_>> {
    let [common, class, typ] = match_fields(content, [SEQUENCE, SEQUENCE, CTX1])?;
    let typ = required(typ, "typeAttributes")?;
    let inner = first_tlv(typ.value, SEQUENCE)?;
    Ok(ObjectParts {
        common: CommonObjectAttributes::decode(required(common, "commonObjectAttributes")?.value)?,
        class: required(class, "classAttributes")?.value,
        type_attributes: inner.value,
    })
}

fn encode_object(
    tag: u8,
    common: &CommonObjectAttributes,
    class_content: &[u8],
    type_content: &[u8],
) -> Vec<u8> {
    let mut content = common.encode();
    content.extend(tlv(0x30, class_content));
    content.extend(tlv(0xA1, &tlv(0x30, type_content)));
    tlv(tag, &content)
}

// ---------------------------------------------------------------------------------
// AODF

/// PinType.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinType {
    Bcd,
    AsciiNumeric,
    Utf8,
    HalfNibbleBcd,
    Iso9564_1,
    Other(u32),
}

impl PinType {
    fn from_number(n: u32) -> Self {
        match n {
            0 => PinType::Bcd,
            1 => PinType::AsciiNumeric,
            2 => PinType::Utf8,
            3 => PinType::HalfNibbleBcd,
            4 => PinType::Iso9564_1,
            other => PinType::Other(other),
        }
    }

    fn number(self) -> u32 {
        match self {
            PinType::Bcd => 0,
            PinType::AsciiNumeric => 1,
            PinType::Utf8 => 2,
            PinType::HalfNibbleBcd => 3,
            PinType::Iso9564_1 => 4,
            PinType::Other(n) => n,
        }
    }
}

/// PinAttributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinAttributes {
    /// `pin_flags::*`.
    pub flags: u32,
    pub pin_type: PinType,
    pub min_length: u32,
    pub stored_length: u32,
    pub max_length: Option<u32>,
    /// `pinReference [0]`, DEFAULT 0 (VERIFY P2).
    pub reference: u32,
    pub pad_char: Option<u8>,
    pub path: Option<Path>,
}

/// A PIN object from the AODF (`pin` alternative of AuthenticationType).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinObject {
    pub common: CommonObjectAttributes,
    /// CommonAuthenticationObjectAttributes.authId: the id keys refer to.
    pub auth_id: Option<Vec<u8>>,
    pub attributes: PinAttributes,
}

/// A `Reference` INTEGER. Some encoders write references ≥ 0x80 as one (negative)
/// byte; read those as the unsigned byte, as OpenSC does.
fn decode_reference(value: &[u8]) -> Result<u32> {
    let v = decode_integer(value)?;
    let v = if (-128..0).contains(&v) { v + 256 } else { v };
    u32::try_from(v).map_err(|_| Error::Invalid("reference out of range"))
}

impl PinObject {
    fn decode(content: &[u8]) -> Result<Self> {
        let parts = decode_object(content)?;
        let [auth_id] = match_fields(parts.class, [OCTET_STRING])?;
        let [flags, pin_type, min, stored, max, reference, pad, path] = match_fields(
            parts.type_attributes,
            [
                BIT_STRING,
                ENUMERATED,
                INTEGER,
                INTEGER,
                INTEGER,
                CTX0_PRIM,
                OCTET_STRING,
                SEQUENCE,
            ],
        )?;
        let pad_char = match pad {
            Some(t) => match t.value {
                [b] => Some(*b),
                _ => return Err(Error::Invalid("padChar")),
            },
            None => None,
        };
        Ok(PinObject {
            common: parts.common,
            auth_id: auth_id.map(|t| t.value.to_vec()),
            attributes: PinAttributes {
                flags: decode_bit_flags(required(flags, "pinFlags")?.value)?,
                pin_type: PinType::from_number(decode_u32(required(pin_type, "pinType")?.value)?),
                min_length: decode_u32(required(min, "minLength")?.value)?,
                stored_length: decode_u32(required(stored, "storedLength")?.value)?,
                max_length: max.map(|t| decode_u32(t.value)).transpose()?,
                reference: reference
                    .map(|t| decode_reference(t.value))
                    .transpose()?
                    .unwrap_or(0),
                pad_char,
                path: path.map(|t| Path::decode(t.value)).transpose()?,
            },
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let a = &self.attributes;
        let class = self
            .auth_id
            .as_ref()
            .map(|id| tlv(0x04, id))
            .unwrap_or_default();
        let mut typ = bit_flags(0x03, a.flags);
        typ.extend(integer(0x0A, u64::from(a.pin_type.number())));
        typ.extend(integer(0x02, u64::from(a.min_length)));
        typ.extend(integer(0x02, u64::from(a.stored_length)));
        if let Some(max) = a.max_length {
            typ.extend(integer(0x02, u64::from(max)));
        }
        if a.reference != 0 {
            typ.extend(integer(0x80, u64::from(a.reference)));
        }
        if let Some(pad) = a.pad_char {
            typ.extend(tlv(0x04, &[pad]));
        }
        if let Some(path) = &a.path {
            typ.extend(path.encode());
        }
        encode_object(0x30, &self.common, &class, &typ)
    }
}

/// EF.AODF: PIN objects; biometric, authKey and other authentication objects are skipped.
pub fn parse_aodf(data: &[u8]) -> Result<Vec<PinObject>> {
    Reader::new(data)
        .records()?
        .into_iter()
        .filter(|r| r.tag == SEQUENCE)
        .map(|r| PinObject::decode(r.value))
        .collect()
}

pub fn encode_aodf(pins: &[PinObject]) -> Vec<u8> {
    concat(&pins.iter().map(PinObject::encode).collect::<Vec<_>>())
}

// ---------------------------------------------------------------------------------
// Keys

/// CommonKeyAttributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommonKeyAttributes {
    pub id: Vec<u8>,
    /// `key_usage::*`.
    pub usage: u32,
    /// DEFAULT TRUE (written only when false).
    pub native: bool,
    /// `key_access::*`; 0 is written as absent.
    pub access_flags: u32,
    pub key_reference: Option<u32>,
}

impl CommonKeyAttributes {
    fn decode(content: &[u8]) -> Result<Self> {
        let [id, usage, native, access, reference] = match_fields(
            content,
            [OCTET_STRING, BIT_STRING, BOOLEAN, BIT_STRING, INTEGER],
        )?;
        Ok(CommonKeyAttributes {
            id: required(id, "iD")?.value.to_vec(),
            usage: decode_bit_flags(required(usage, "usage")?.value)?,
            native: native
                .map(|t| decode_bool(t.value))
                .transpose()?
                .unwrap_or(true),
            access_flags: access
                .map(|t| decode_bit_flags(t.value))
                .transpose()?
                .unwrap_or(0),
            key_reference: reference.map(|t| decode_reference(t.value)).transpose()?,
        })
    }

    fn encode_content(&self) -> Vec<u8> {
        let mut content = tlv(0x04, &self.id);
        content.extend(bit_flags(0x03, self.usage));
        if !self.native {
            content.extend(boolean(false));
        }
        if self.access_flags != 0 {
            content.extend(bit_flags(0x03, self.access_flags));
        }
        if let Some(r) = self.key_reference {
            content.extend(integer(0x02, u64::from(r)));
        }
        content
    }
}

/// Algorithm-specific key attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Rsa {
        modulus_length: u32,
    },
    Ec {
        /// OpenSC's `fieldSize` extension (bits), written after the value.
        field_size: Option<u32>,
        /// Named curve from `keyInfo` (`paramsAndOps SEQUENCE { namedCurve OID }`).
        curve: Option<ObjectIdentifier>,
    },
}

impl KeyKind {
    /// `rest`: type attributes after the value.
    fn decode_rsa(rest: &[u8]) -> Result<Self> {
        let [modulus] = match_fields(rest, [INTEGER])?;
        Ok(KeyKind::Rsa {
            modulus_length: decode_u32(required(modulus, "modulusLength")?.value)?,
        })
    }

    fn decode_ec(rest: &[u8]) -> Result<Self> {
        let [field_size, key_info] = match_fields(rest, [INTEGER, SEQUENCE])?;
        let curve = match key_info {
            Some(info) => {
                let [oid] = match_fields(info.value, [OID])?;
                oid.map(|t| {
                    ObjectIdentifier::from_bytes(t.value)
                        .map_err(|_| Error::Invalid("curve OBJECT IDENTIFIER"))
                })
                .transpose()?
            }
            None => None,
        };
        Ok(KeyKind::Ec {
            field_size: field_size.map(|t| decode_u32(t.value)).transpose()?,
            curve,
        })
    }

    fn encode_after_value(&self) -> Vec<u8> {
        match self {
            KeyKind::Rsa { modulus_length } => integer(0x02, u64::from(*modulus_length)),
            KeyKind::Ec { field_size, curve } => {
                // OpenSC reads value, then fieldSize INTEGER, and ignores the rest; ISO
                // 7816-15 readers find the curve in keyInfo (`paramsAndOps`).
                let mut out = field_size
                    .map(|f| integer(0x02, u64::from(f)))
                    .unwrap_or_default();
                if let Some(oid) = curve {
                    out.extend(tlv(0x30, &tlv(0x06, oid.as_bytes())));
                }
                out
            }
        }
    }

    fn object_tag(&self) -> u8 {
        match self {
            KeyKind::Rsa { .. } => 0x30,
            // privateECKey / publicECKey [0]: implicit on the object SEQUENCE.
            KeyKind::Ec { .. } => 0xA0,
        }
    }
}

/// A private key object from the PrKDF (`privateRSAKey` or `privateECKey`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrivateKeyObject {
    pub common: CommonObjectAttributes,
    pub key: CommonKeyAttributes,
    pub kind: KeyKind,
    /// Value path: the key file, or for internal keys the DF holding them. OpenSC allows
    /// it empty; absent here means "not given".
    pub path: Option<Path>,
}

impl PrivateKeyObject {
    fn decode(tag: u32, content: &[u8]) -> Result<Self> {
        let parts = decode_object(content)?;
        let key = CommonKeyAttributes::decode(parts.class)?;
        let (path, rest) = match split_value(parts.type_attributes) {
            Ok((value, rest)) => (value.path().cloned(), rest),
            // An empty Path SEQUENCE (OpenSC allows it; our encoder writes it for "no
            // path"): no path, and the key attributes follow it. Found by fuzzing: the
            // empty SEQUENCE was taken for the EC keyInfo, losing the curve.
            Err(Error::Missing(_)) => {
                let mut reader = Reader::new(parts.type_attributes);
                match reader.next_tlv() {
                    Ok(first) if first.tag == SEQUENCE && first.value.is_empty() => {
                        (None, reader.remaining())
                    }
                    _ => (None, parts.type_attributes),
                }
            }
            Err(e) => return Err(e),
        };
        let kind = if tag == SEQUENCE {
            KeyKind::decode_rsa(rest)?
        } else {
            KeyKind::decode_ec(rest)?
        };
        Ok(PrivateKeyObject {
            common: parts.common,
            key,
            kind,
            path,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut typ = self
            .path
            .as_ref()
            .map(Path::encode)
            .unwrap_or_else(|| tlv(0x30, &[]));
        typ.extend(self.kind.encode_after_value());
        encode_object(
            self.kind.object_tag(),
            &self.common,
            &self.key.encode_content(),
            &typ,
        )
    }
}

/// EF.PrKDF: RSA and EC private keys; other key types are skipped.
pub fn parse_prkdf(data: &[u8]) -> Result<Vec<PrivateKeyObject>> {
    Reader::new(data)
        .records()?
        .into_iter()
        .filter(|r| r.tag == SEQUENCE || r.tag == CTX0)
        .map(|r| PrivateKeyObject::decode(r.tag, r.value))
        .collect()
}

pub fn encode_prkdf(keys: &[PrivateKeyObject]) -> Vec<u8> {
    concat(
        &keys
            .iter()
            .map(PrivateKeyObject::encode)
            .collect::<Vec<_>>(),
    )
}

/// A public key object from the PuKDF (`publicRSAKey` or `publicECKey`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKeyObject {
    pub common: CommonObjectAttributes,
    pub key: CommonKeyAttributes,
    pub kind: KeyKind,
    /// Where the key is: for this project a file holding SubjectPublicKeyInfo DER.
    pub value: ObjectValue,
}

impl PublicKeyObject {
    fn decode(tag: u32, content: &[u8]) -> Result<Self> {
        let parts = decode_object(content)?;
        let key = CommonKeyAttributes::decode(parts.class)?;
        let (value, rest) = split_value(parts.type_attributes)?;
        let kind = if tag == SEQUENCE {
            KeyKind::decode_rsa(rest)?
        } else {
            KeyKind::decode_ec(rest)?
        };
        Ok(PublicKeyObject {
            common: parts.common,
            key,
            kind,
            value,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut typ = self.value.encode();
        typ.extend(self.kind.encode_after_value());
        encode_object(
            self.kind.object_tag(),
            &self.common,
            &self.key.encode_content(),
            &typ,
        )
    }
}

/// EF.PuKDF: RSA and EC public keys; other key types are skipped.
pub fn parse_pukdf(data: &[u8]) -> Result<Vec<PublicKeyObject>> {
    Reader::new(data)
        .records()?
        .into_iter()
        .filter(|r| r.tag == SEQUENCE || r.tag == CTX0)
        .map(|r| PublicKeyObject::decode(r.tag, r.value))
        .collect()
}

pub fn encode_pukdf(keys: &[PublicKeyObject]) -> Vec<u8> {
    concat(&keys.iter().map(PublicKeyObject::encode).collect::<Vec<_>>())
}

// ---------------------------------------------------------------------------------
// CDF

/// An `x509Certificate` object from the CDF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateObject {
    pub common: CommonObjectAttributes,
    pub id: Vec<u8>,
    /// DEFAULT FALSE (written only when true): a CA certificate.
    pub authority: bool,
    pub value: ObjectValue,
}

impl CertificateObject {
    fn decode(content: &[u8]) -> Result<Self> {
        let parts = decode_object(content)?;
        let [id, authority] = match_fields(parts.class, [OCTET_STRING, BOOLEAN])?;
        let (value, _subject_issuer_serial) = split_value(parts.type_attributes)?;
        Ok(CertificateObject {
            common: parts.common,
            id: required(id, "iD")?.value.to_vec(),
            authority: authority
                .map(|t| decode_bool(t.value))
                .transpose()?
                .unwrap_or(false),
            value,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut class = tlv(0x04, &self.id);
        if self.authority {
            class.extend(boolean(true));
        }
        encode_object(0x30, &self.common, &class, &self.value.encode())
    }
}

/// EF.CDF: X.509 certificates; other certificate types are skipped.
pub fn parse_cdf(data: &[u8]) -> Result<Vec<CertificateObject>> {
    Reader::new(data)
        .records()?
        .into_iter()
        .filter(|r| r.tag == SEQUENCE)
        .map(|r| CertificateObject::decode(r.value))
        .collect()
}

pub fn encode_cdf(certs: &[CertificateObject]) -> Vec<u8> {
    concat(
        &certs
            .iter()
            .map(CertificateObject::encode)
            .collect::<Vec<_>>(),
    )
}
