//! Bind: find the PKCS#15 application and read what the token needs
//! (pkcs11-spec.md §1.3, §3.2), in named phases, all in one transaction:
//!
//! 1. [`find_application`]: SELECT the PKCS#15 AID, else look it up in EF.DIR;
//! 2. [`read_token_info`]: EF.TokenInfo first — with a persistent cache entry for
//!    exactly this TokenInfo (and ATR), [`use_cache`] serves the other files from it;
//! 3. [`read_directory`]: the ODF and the AODF and PrKDF it names;
//! 4. [`read_certificates`]: each CDF, and the certificates it points to;
//! 5. [`pair_keys`]: each private key with its public key — from the certificate of
//!    the same iD, else from the PuKDF (read only when some key needs it);
//! 6. [`read_counters`]: the PIN and PUK retry counters (never cached);
//! 7. [`record_cache_entry`] and [`token_data`].
//!
//! How files are read (SFI or path, exact lengths, chunks) is `files.rs`.

use super::cache::{BindCache, Entry};
use super::files::{strip_mf, FileRef, FileSource, Shape};
use super::profile::Profile;
use super::{
    keys, CardError, CertificateEntry, KeyEntry, PinEncoding, PinInfo, PinStatus, PublicKey,
    TokenData, Tx, PIN_MAX_TRIES, PKCS15_AID, PUK_MAX_TRIES,
};
use eimza_pkcs15 as p15;

/// Standard PKCS#15 file identifiers (ISO 7816-15).
const ODF_FID: [u8; 2] = [0x50, 0x31];
const TOKEN_INFO_FID: [u8; 2] = [0x50, 0x32];
const EF_DIR_FID: [u8; 2] = [0x2F, 0x00];

/// The ODF and the authentication and private-key directories, decoded.
struct Directory {
    odf: Vec<p15::OdfEntry>,
    pins: Vec<p15::PinObject>,
    private_keys: Vec<p15::PrivateKeyObject>,
}

impl Directory {
    fn path(&self, kind: p15::OdfKind) -> Option<&p15::Path> {
        self.odf.iter().find(|e| e.kind == kind).map(|e| &e.path)
    }
}

/// `cache`: the persistent cache, if on; `may_serve`: an entry may be used (false
/// after a served entry failed to bind: read everything and rewrite it).
pub(super) fn bind(
    tx: &mut Tx<'_, '_>,
    cache: Option<&BindCache>,
    may_serve: bool,
) -> Result<TokenData, CardError> {
    find_application(tx)?;
    let (info, info_bytes) = read_token_info(tx)?;
    // Without lastUpdate nothing tells a changed card from an unchanged one: no cache.
    let cache = cache.filter(|_| info.last_update.is_some());
    let from_cache = use_cache(tx, cache, &info, &info_bytes, may_serve);
    let directory = read_directory(tx)?;
    let certificates = read_certificates(tx, &directory)?;
    let keys = pair_keys(tx, &directory, &certificates)?;
    let (user_pin, puk) = choose_pins(&directory.pins, &keys)?;
    let (user_pin, puk) = read_counters(tx, user_pin, puk)?;
    if cache.is_some() {
        record_cache_entry(tx, &info, info_bytes);
    }
    if from_cache {
        crate::log_at!(
            crate::log::Level::Debug,
            "bind: public objects from the cache for card {}",
            upper_hex(&info.serial_number)
        );
    }
    Ok(token_data(
        &info,
        user_pin,
        puk,
        keys,
        certificates,
        &tx.profile,
    ))
}

/// Phase 1: make the PKCS#15 DF current, by its AID or through EF.DIR.
fn find_application(tx: &mut Tx<'_, '_>) -> Result<(), CardError> {
    let selected = tx.select_application()?;
    if selected.is_ok() {
        return Ok(());
    }
    select_via_ef_dir(tx)
}

/// No PKCS#15 AID answer: look the application up in EF.DIR (ISO 7816-4 §8.2.1.1).
fn select_via_ef_dir(tx: &mut Tx<'_, '_>) -> Result<(), CardError> {
    let select_mf = tx.profile.select_mf();
    if !tx.exchange(&select_mf)?.is_ok() {
        return Err(CardError::NotRecognized);
    }
    let dir = FileRef {
        sfi: None,
        path: EF_DIR_FID.to_vec(),
        offset: 0,
        length: None,
    };
    let data = match tx.read_file(&dir, Shape::Records) {
        Ok(d) => d,
        Err(CardError::Status(_)) => return Err(CardError::NotRecognized),
        Err(e) => return Err(e),
    };
    let records = p15::parse_dir_records(&data).map_err(|_| CardError::NotRecognized)?;
    let path = records
        .iter()
        .find(|r| r.aid == PKCS15_AID)
        .and_then(|r| r.path.clone())
        .ok_or(CardError::NotRecognized)?;
    let path = strip_mf(&path).to_vec();
    if path.is_empty() || path.len() % 2 != 0 {
        return Err(CardError::NotRecognized);
    }
    let select = tx.profile.select_path(&path);
    if !tx.exchange(&select)?.is_ok() {
        return Err(CardError::NotRecognized);
    }
    tx.app_path = path;
    tx.app_selected = true;
    Ok(())
}

/// Phase 2: EF.TokenInfo, decoded and as read (the cache's change check).
fn read_token_info(tx: &mut Tx<'_, '_>) -> Result<(p15::TokenInfo, Vec<u8>), CardError> {
    let file = tx.standard_file(TOKEN_INFO_FID);
    let bytes = tx.read_file(&file, Shape::Single)?;
    let info = p15::parse_token_info(&bytes).map_err(|_| CardError::Malformed("EF.TokenInfo"))?;
    Ok((info, bytes))
}

/// Where the other files come from: a stored entry for exactly this ATR and TokenInfo
/// (served), else the card (recorded for a new entry). `true` if served.
fn use_cache(
    tx: &mut Tx<'_, '_>,
    cache: Option<&BindCache>,
    info: &p15::TokenInfo,
    info_bytes: &[u8],
    may_serve: bool,
) -> bool {
    let Some(cache) = cache else {
        return false;
    };
    tx.files = match cache.load(&info.serial_number, tx.io.atr(), info_bytes) {
        Some(entry) if may_serve => FileSource::Serve(entry.files),
        _ => FileSource::Record(Default::default()),
    };
    matches!(tx.files, FileSource::Serve(_))
}

/// Phase 3: the ODF, the AODF (required) and the PrKDF.
fn read_directory(tx: &mut Tx<'_, '_>) -> Result<Directory, CardError> {
    let odf_file = tx.standard_file(ODF_FID);
    let odf = p15::parse_odf(&tx.read_file(&odf_file, Shape::Records)?)
        .map_err(|_| CardError::Malformed("EF.ODF"))?;
    let mut directory = Directory {
        odf,
        pins: Vec::new(),
        private_keys: Vec::new(),
    };
    let aodf = directory
        .path(p15::OdfKind::AuthObjects)
        .ok_or(CardError::NotRecognized)?;
    let aodf = read_records(tx, aodf)?;
    directory.pins = p15::parse_aodf(&aodf).map_err(|_| CardError::Malformed("EF.AODF"))?;
    if let Some(path) = directory.path(p15::OdfKind::PrivateKeys) {
        let prkdf = read_records(tx, path)?;
        directory.private_keys =
            p15::parse_prkdf(&prkdf).map_err(|_| CardError::Malformed("EF.PrKDF"))?;
    }
    Ok(directory)
}

fn read_records(tx: &mut Tx<'_, '_>, path: &p15::Path) -> Result<Vec<u8>, CardError> {
    let file = tx.file_ref(path)?;
    tx.read_file(&file, Shape::Records)
}

/// The DER of an object stored in its directory entry or in a file of its own.
fn object_value(tx: &mut Tx<'_, '_>, value: &p15::ObjectValue) -> Result<Vec<u8>, CardError> {
    match value {
        p15::ObjectValue::Direct(der) => Ok(der.clone()),
        p15::ObjectValue::Path(path) => {
            let file = tx.file_ref(path)?;
            tx.read_file(&file, Shape::Single)
        }
    }
}

/// Phase 4: each CDF, then the certificates it points to.
fn read_certificates(
    tx: &mut Tx<'_, '_>,
    directory: &Directory,
) -> Result<Vec<CertificateEntry>, CardError> {
    let mut certificates = Vec::new();
    for kind in [
        p15::OdfKind::Certificates,
        p15::OdfKind::TrustedCertificates,
        p15::OdfKind::UsefulCertificates,
    ] {
        let Some(path) = directory.path(kind) else {
            continue;
        };
        let cdf = read_records(tx, path)?;
        let objects = p15::parse_cdf(&cdf).map_err(|_| CardError::Malformed("EF.CDF"))?;
        for object in objects {
            certificates.push(CertificateEntry {
                label: object.common.label.clone().unwrap_or_default(),
                id: object.id.clone(),
                der: object_value(tx, &object.value)?,
                authority: object.authority || kind == p15::OdfKind::TrustedCertificates,
            });
        }
    }
    Ok(certificates)
}

/// Phase 5: each private key with its public half — from the certificate with the same
/// iD, else from the PuKDF (read only when some key needs it). A key whose public half
/// is nowhere cannot be offered (no size, no attributes) and is left out.
fn pair_keys(
    tx: &mut Tx<'_, '_>,
    directory: &Directory,
    certificates: &[CertificateEntry],
) -> Result<Vec<KeyEntry>, CardError> {
    let mut pukdf: Option<Vec<p15::PublicKeyObject>> = None;
    let mut keys = Vec::new();
    for object in &directory.private_keys {
        let from_cert = certificates
            .iter()
            .filter(|c| c.id == object.key.id)
            .find_map(|c| keys::from_certificate(&c.der).ok());
        let public = match from_cert {
            Some(found) => Some(found),
            None => public_key_from_pukdf(tx, directory, &mut pukdf, &object.key.id)?,
        };
        let Some((public, bits)) = public else {
            continue;
        };
        // A key the family's commands cannot use (on AKIS v1.0 anything but RSA-2048,
        // §1.4.1) is not offered; its certificate still is.
        let rsa = matches!(public, PublicKey::Rsa { .. });
        if !tx.profile.family_profile().holds_key(rsa, bits) {
            crate::log_at!(
                crate::log::Level::Info,
                "bind: key {} ({} {bits} bits) is not usable with this card family's commands; not offered",
                object.common.label.clone().unwrap_or_default(),
                if rsa { "RSA" } else { "EC" }
            );
            continue;
        }
        let key_ref = object
            .key
            .key_reference
            .and_then(|r| u8::try_from(r).ok())
            .ok_or(CardError::Malformed("PrKDF keyReference"))?;
        keys.push(KeyEntry {
            label: object.common.label.clone().unwrap_or_default(),
            id: object.key.id.clone(),
            key_ref,
            public,
            bits,
            user_consent: object.common.user_consent.is_some_and(|n| n > 0),
            usage_sign: object.key.usage & p15::key_usage::SIGN != 0,
            usage_non_repudiation: object.key.usage & p15::key_usage::NON_REPUDIATION != 0,
            auth_id: object.common.auth_id.clone().unwrap_or_default(),
        });
    }
    Ok(keys)
}

/// The public key of iD `id` from the PuKDF (read on first need into `pukdf`).
fn public_key_from_pukdf(
    tx: &mut Tx<'_, '_>,
    directory: &Directory,
    pukdf: &mut Option<Vec<p15::PublicKeyObject>>,
    id: &[u8],
) -> Result<Option<(PublicKey, usize)>, CardError> {
    if pukdf.is_none() {
        *pukdf = Some(match directory.path(p15::OdfKind::PublicKeys) {
            Some(path) => p15::parse_pukdf(&read_records(tx, path)?)
                .map_err(|_| CardError::Malformed("EF.PuKDF"))?,
            None => Vec::new(),
        });
    }
    let entry = pukdf
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|p| p.key.id == id)
        .cloned();
    match entry {
        Some(p) => {
            let der = object_value(tx, &p.value)?;
            Ok(Some(keys::from_spki_der(&der)?))
        }
        None => Ok(None),
    }
}

/// The user PIN is the one the keys name (else the first PIN that is neither SO nor
/// unblocking); the PUK is its unblocker (else any unblocking/SO PIN).
fn choose_pins<'a>(
    pins: &'a [p15::PinObject],
    keys: &[KeyEntry],
) -> Result<(&'a p15::PinObject, Option<&'a p15::PinObject>), CardError> {
    let admin = p15::pin_flags::SO_PIN | p15::pin_flags::UNBLOCKING_PIN;
    let by_key = keys.first().and_then(|k| {
        pins.iter()
            .find(|p| p.auth_id.as_deref() == Some(&k.auth_id[..]))
    });
    let user = by_key
        .or_else(|| pins.iter().find(|p| p.attributes.flags & admin == 0))
        .ok_or(CardError::NotRecognized)?;
    let unblocker = user.common.auth_id.as_deref().and_then(|id| {
        pins.iter()
            .find(|p| p.auth_id.as_deref() == Some(id) && !std::ptr::eq(*p, user))
    });
    let puk = unblocker.or_else(|| {
        pins.iter()
            .find(|p| p.attributes.flags & admin != 0 && !std::ptr::eq(*p, user))
    });
    Ok((user, puk))
}

/// Phase 6: both counters, also when the rest came from the cache: they are live card
/// state (another application may have spent tries), and the token flags
/// (CKF_USER_PIN_*, CKF_SO_PIN_*) must be right from the first C_GetTokenInfo.
fn read_counters(
    tx: &mut Tx<'_, '_>,
    user_pin: &p15::PinObject,
    puk: Option<&p15::PinObject>,
) -> Result<(PinInfo, Option<PinInfo>), CardError> {
    let mut user_pin = pin_info(user_pin, PIN_MAX_TRIES)?;
    let mut puk = puk.map(|p| pin_info(p, PUK_MAX_TRIES)).transpose()?;
    user_pin.status = counter(tx, user_pin.reference)?;
    if let Some(puk) = puk.as_mut() {
        puk.status = counter(tx, puk.reference)?;
    }
    Ok((user_pin, puk))
}

/// A counter the card will not tell is `Unknown`; a reader failure ends the bind.
fn counter(tx: &mut Tx<'_, '_>, reference: u8) -> Result<PinStatus, CardError> {
    match tx.query_pin(reference) {
        Ok(status) => Ok(status),
        Err(CardError::Reader(e)) => Err(CardError::Reader(e)),
        Err(_) => Ok(PinStatus::Unknown),
    }
}

fn pin_info(pin: &p15::PinObject, max_tries: u8) -> Result<PinInfo, CardError> {
    let a = &pin.attributes;
    let encoding = match a.pin_type {
        p15::PinType::AsciiNumeric => PinEncoding::AsciiNumeric,
        p15::PinType::Utf8 => PinEncoding::Utf8,
        p15::PinType::Bcd => PinEncoding::Bcd,
        _ => return Err(CardError::Malformed("unsupported PIN type")),
    };
    let reference = u8::try_from(a.reference).map_err(|_| CardError::Malformed("PIN reference"))?;
    let as_len = |v: u32| usize::try_from(v).map_err(|_| CardError::Malformed("PIN length"));
    let min_len = as_len(a.min_length)?;
    let stored_len = as_len(a.stored_length)?;
    let max_len = match a.max_length {
        Some(m) => as_len(m)?,
        None => stored_len.max(min_len),
    };
    let needs_padding = a.flags & p15::pin_flags::NEEDS_PADDING != 0;
    Ok(PinInfo {
        label: pin.common.label.clone().unwrap_or_default(),
        auth_id: pin.auth_id.clone().unwrap_or_default(),
        reference,
        encoding,
        min_len,
        max_len,
        stored_len,
        // ISO 7816-15: padChar defaults to 0xFF when padding is needed.
        pad_char: needs_padding.then(|| a.pad_char.unwrap_or(0xFF)),
        max_tries,
        status: PinStatus::Unknown,
    })
}

/// Phase 7a: what a cold bind read becomes a cache entry, written by the caller once
/// the card is released (`Card::bind_with_cache`).
fn record_cache_entry(tx: &mut Tx<'_, '_>, info: &p15::TokenInfo, info_bytes: Vec<u8>) {
    if let FileSource::Record(files) = &mut tx.files {
        let files = std::mem::take(files);
        let entry = Entry {
            atr: tx.io.atr().to_vec(),
            token_info: info_bytes,
            files,
        };
        tx.new_cache_entry = Some((info.serial_number.clone(), entry));
    }
}

/// Phase 7b: the token as the PKCS#11 layer sees it.
fn token_data(
    info: &p15::TokenInfo,
    user_pin: PinInfo,
    puk: Option<PinInfo>,
    keys: Vec<KeyEntry>,
    certificates: Vec<CertificateEntry>,
    profile: &Profile,
) -> TokenData {
    let serial = upper_hex(&info.serial_number);
    TokenData {
        label: info
            .label
            .clone()
            .unwrap_or_else(|| format!("AKIS_{serial}")),
        serial,
        manufacturer: info.manufacturer_id.clone().unwrap_or_default(),
        // Every card of the profile, the software card included, is an AKIS card to
        // the application; TokenInfo's manufacturer tells them apart.
        model: "AKIS".to_owned(),
        user_pin,
        puk,
        keys,
        certificates,
        last_update: info.last_update.clone(),
        family: profile.family_profile(),
        max_command_data: profile.max_command_data(),
    }
}

fn upper_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
mod tests;
