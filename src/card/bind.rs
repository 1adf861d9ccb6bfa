//! Bind: find the PKCS#15 application and read what the token needs, in as few APDUs
//! as the card allows (pkcs11-spec.md §1.3, Part 3):
//!
//! - SFI READ BINARY (`00 B0 8x 00`) when the ATR offers SFI, else SELECT by path;
//! - each file only up to its declared length (`Path.length`), or, without one, a
//!   first chunk and then exactly what the DER headers announce;
//! - the largest chunks allowed (65535 bytes with extended length, 256 without);
//! - the PuKDF only for keys without a certificate;
//! - EF.TokenInfo first: with a persistent cache entry for exactly this TokenInfo
//!   (and ATR), the other files come from the cache and only the counters are read.

use super::cache::{BindCache, Entry};
use super::{
    keys, CardError, CertificateEntry, FileSource, KeyEntry, PinEncoding, PinInfo, PinStatus,
    TokenData, Transaction, PIN_MAX_TRIES, PKCS15_AID, PUK_MAX_TRIES,
};
use crate::apdu::{sw, Command};
use eimza_pkcs15 as p15;

/// First read of a file whose length nothing declares (ODF, TokenInfo, EF.DIR).
const FIRST_CHUNK: usize = 256;
/// Longest DER header (tag + 0x84 + 4 length bytes) plus one.
const MAX_HEADER: usize = 6;
/// Standard PKCS#15 file identifiers (ISO 7816-15).
const ODF_FID: [u8; 2] = [0x50, 0x31];
const TOKEN_INFO_FID: [u8; 2] = [0x50, 0x32];
const EF_DIR_FID: [u8; 2] = [0x2F, 0x00];
const MF: [u8; 2] = [0x3F, 0x00];

/// How a file's content ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// One DER TLV (TokenInfo, a certificate, a SubjectPublicKeyInfo).
    Single,
    /// Concatenated TLVs ended by the end of file or `00`/`FF` padding (directory files).
    Records,
}

enum Extent {
    Complete(usize),
    NeedMore(usize),
}

/// A file to read: by SFI in the current (PKCS#15) DF, or by path from the MF.
struct FileRef {
    sfi: Option<u8>,
    /// Path from the MF without `3F00` (SELECT P1 08).
    path: Vec<u8>,
    offset: usize,
    length: Option<usize>,
}

/// `cache`: the persistent cache, if on; `may_serve`: an entry may be used (false
/// after a served entry failed to bind: read everything and rewrite it).
pub(super) fn bind(
    tx: &mut Transaction<'_>,
    cache: Option<&BindCache>,
    may_serve: bool,
) -> Result<TokenData, CardError> {
    let selected = tx.select_application()?;
    if !selected.is_ok() {
        select_via_ef_dir(tx)?;
    }

    let info_file = tx.standard_file(TOKEN_INFO_FID);
    let info_bytes = tx.read_file(&info_file, Shape::Single)?;
    let info =
        p15::parse_token_info(&info_bytes).map_err(|_| CardError::Malformed("EF.TokenInfo"))?;
    // Without lastUpdate nothing tells a changed card from an unchanged one: no cache.
    let cache = cache.filter(|_| info.last_update.is_some());
    let atr = tx.channel.atr().to_vec();
    if let Some(cache) = cache {
        tx.files = match cache.load(&info.serial_number, &atr, &info_bytes) {
            Some(entry) if may_serve => FileSource::Serve(entry.files),
            _ => FileSource::Record(Default::default()),
        };
    }
    let from_cache = matches!(tx.files, FileSource::Serve(_));

    let odf_file = tx.standard_file(ODF_FID);
    let odf = p15::parse_odf(&tx.read_file(&odf_file, Shape::Records)?)
        .map_err(|_| CardError::Malformed("EF.ODF"))?;

    let odf_path = |kind: p15::OdfKind| odf.iter().find(|e| e.kind == kind).map(|e| &e.path);

    let aodf_path = odf_path(p15::OdfKind::AuthObjects).ok_or(CardError::NotRecognized)?;
    let aodf_file = tx.file_ref(aodf_path)?;
    let pins = p15::parse_aodf(&tx.read_file(&aodf_file, Shape::Records)?)
        .map_err(|_| CardError::Malformed("EF.AODF"))?;

    let private_keys = match odf_path(p15::OdfKind::PrivateKeys) {
        Some(path) => {
            let file = tx.file_ref(path)?;
            p15::parse_prkdf(&tx.read_file(&file, Shape::Records)?)
                .map_err(|_| CardError::Malformed("EF.PrKDF"))?
        }
        None => Vec::new(),
    };

    let mut certificates = Vec::new();
    for kind in [
        p15::OdfKind::Certificates,
        p15::OdfKind::TrustedCertificates,
        p15::OdfKind::UsefulCertificates,
    ] {
        let Some(path) = odf_path(kind) else { continue };
        let file = tx.file_ref(path)?;
        let objects = p15::parse_cdf(&tx.read_file(&file, Shape::Records)?)
            .map_err(|_| CardError::Malformed("EF.CDF"))?;
        for object in objects {
            let der = match &object.value {
                p15::ObjectValue::Direct(der) => der.clone(),
                p15::ObjectValue::Path(path) => {
                    let file = tx.file_ref(path)?;
                    tx.read_file(&file, Shape::Single)?
                }
            };
            certificates.push(CertificateEntry {
                label: object.common.label.clone().unwrap_or_default(),
                id: object.id.clone(),
                der,
                authority: object.authority || kind == p15::OdfKind::TrustedCertificates,
            });
        }
    }

    // Public keys: from the certificate with the same iD, else from the PuKDF (read only
    // when some key needs it).
    let mut public_keys: Option<Vec<p15::PublicKeyObject>> = None;
    let mut keys = Vec::new();
    for object in &private_keys {
        let from_cert = certificates
            .iter()
            .filter(|c| c.id == object.key.id)
            .find_map(|c| keys::from_certificate(&c.der).ok());
        let public = match from_cert {
            Some(found) => Some(found),
            None => {
                if public_keys.is_none() {
                    public_keys = Some(match odf_path(p15::OdfKind::PublicKeys) {
                        Some(path) => {
                            let file = tx.file_ref(path)?;
                            p15::parse_pukdf(&tx.read_file(&file, Shape::Records)?)
                                .map_err(|_| CardError::Malformed("EF.PuKDF"))?
                        }
                        None => Vec::new(),
                    });
                }
                let entry = public_keys
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .find(|p| p.key.id == object.key.id)
                    .cloned();
                match entry {
                    Some(p) => Some(public_key_from_pukdf(tx, &p)?),
                    None => None,
                }
            }
        };
        // A key whose public half is nowhere cannot be offered (no size, no attributes).
        let Some((public, bits)) = public else {
            continue;
        };
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

    let (user_pin, puk) = choose_pins(&pins, &keys)?;
    let mut user_pin = pin_info(user_pin, PIN_MAX_TRIES)?;
    let mut puk = puk.map(|p| pin_info(p, PUK_MAX_TRIES)).transpose()?;
    // Both counters even when the rest comes from the cache: they are live card state
    // (another application may have spent tries), and the token flags
    // (CKF_USER_PIN_*, CKF_SO_PIN_*) must be right from the first C_GetTokenInfo.
    user_pin.status = counter(tx, user_pin.reference)?;
    if let Some(puk) = puk.as_mut() {
        puk.status = counter(tx, puk.reference)?;
    }

    if let (Some(_), FileSource::Record(files)) = (cache, &mut tx.files) {
        // Written by the caller once the card is released (`Card::bind_with_cache`).
        let entry = Entry {
            atr,
            token_info: info_bytes,
            files: std::mem::take(files),
        };
        tx.new_cache_entry = Some((info.serial_number.clone(), entry));
    } else if from_cache {
        crate::log_at!(
            crate::log::Level::Debug,
            "bind: public objects from the cache for card {}",
            upper_hex(&info.serial_number)
        );
    }

    let serial = upper_hex(&info.serial_number);
    let manufacturer = info.manufacturer_id.clone().unwrap_or_default();
    // Every card of the profile, the software card included, is an AKIS card to the
    // application; TokenInfo's manufacturer tells them apart.
    let model = "AKIS".to_owned();
    Ok(TokenData {
        label: info
            .label
            .clone()
            .unwrap_or_else(|| format!("AKIS_{serial}")),
        serial,
        manufacturer,
        model,
        user_pin,
        puk,
        keys,
        certificates,
        last_update: info.last_update.clone(),
    })
}

/// A counter the card will not tell is `Unknown`; a reader failure ends the bind.
fn counter(tx: &mut Transaction<'_>, reference: u8) -> Result<PinStatus, CardError> {
    match tx.query_pin(reference) {
        Ok(status) => Ok(status),
        Err(CardError::Reader(e)) => Err(CardError::Reader(e)),
        Err(_) => Ok(PinStatus::Unknown),
    }
}

fn upper_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn public_key_from_pukdf(
    tx: &mut Transaction<'_>,
    object: &p15::PublicKeyObject,
) -> Result<(super::PublicKey, usize), CardError> {
    let der = match &object.value {
        p15::ObjectValue::Direct(der) => der.clone(),
        p15::ObjectValue::Path(path) => {
            let file = tx.file_ref(path)?;
            tx.read_file(&file, Shape::Single)?
        }
    };
    keys::from_spki_der(&der)
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

/// No PKCS#15 AID answer: look the application up in EF.DIR (ISO 7816-4 §8.2.1.1).
fn select_via_ef_dir(tx: &mut Transaction<'_>) -> Result<(), CardError> {
    let r = tx.exchange(&Command::new(0x00, 0xA4, 0x00, 0x0C).with_data(&MF))?;
    if !r.is_ok() {
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
    let r = tx.exchange(&Command::new(0x00, 0xA4, 0x08, 0x0C).with_data(&path))?;
    if !r.is_ok() {
        return Err(CardError::NotRecognized);
    }
    tx.app_path = path;
    tx.app_selected = true;
    Ok(())
}

fn strip_mf(path: &[u8]) -> &[u8] {
    path.strip_prefix(&MF[..]).unwrap_or(path)
}

/// What is known about the end of a file's content from the bytes read so far.
fn extent(data: &[u8], shape: Shape, eof: bool) -> Result<Extent, CardError> {
    match shape {
        Shape::Single => match p15::der_total_length(data) {
            Some(n) if n <= data.len() => Ok(Extent::Complete(n)),
            Some(n) => Ok(Extent::NeedMore(n)),
            None if eof || data.len() >= MAX_HEADER => Err(CardError::Malformed("DER header")),
            None => Ok(Extent::NeedMore(data.len() + FIRST_CHUNK)),
        },
        Shape::Records => {
            let mut pos = 0;
            while pos < data.len() {
                if matches!(data[pos], 0x00 | 0xFF) {
                    return Ok(Extent::Complete(pos));
                }
                match p15::der_total_length(&data[pos..]) {
                    Some(n) if pos + n <= data.len() => pos += n,
                    Some(n) => return Ok(Extent::NeedMore(pos + n)),
                    None if eof || data.len() - pos >= MAX_HEADER => {
                        return Err(CardError::Malformed("DER header"))
                    }
                    None => return Ok(Extent::NeedMore(data.len() + FIRST_CHUNK)),
                }
            }
            if eof {
                Ok(Extent::Complete(pos))
            } else {
                // Ended on a record boundary: there may be more records.
                Ok(Extent::NeedMore(pos + FIRST_CHUNK))
            }
        }
    }
}

impl super::Card {
    /// A standard file of the PKCS#15 DF (ODF, TokenInfo).
    fn standard_file(&self, fid: [u8; 2]) -> FileRef {
        let mut path = self.app_path.clone();
        path.extend_from_slice(&fid);
        FileRef {
            sfi: self.sfi_for(&fid),
            path,
            offset: 0,
            length: None,
        }
    }

    /// SFI = five low bits of the FID (spec §1.3), when the ATR offers SFI reads.
    fn sfi_for(&self, fid: &[u8]) -> Option<u8> {
        if !self.caps.sfi {
            return None;
        }
        let sfi = fid.get(1)? & 0x1F;
        (1..=30).contains(&sfi).then_some(sfi)
    }

    fn file_ref(&self, path: &p15::Path) -> Result<FileRef, CardError> {
        let raw = strip_mf(&path.path);
        if raw.len() < 2 || raw.len() % 2 != 0 {
            return Err(CardError::Malformed("PKCS#15 Path"));
        }
        // A bare FID is relative to the PKCS#15 DF.
        let full = if raw.len() == 2 {
            let mut p = self.app_path.clone();
            p.extend_from_slice(raw);
            p
        } else {
            raw.to_vec()
        };
        let (parent, fid) = full.split_at(full.len() - 2);
        let in_app = parent == self.app_path.as_slice();
        let offset = path.index.map_or(0, |i| i as usize);
        let length = path.length.map(|l| l as usize);
        Ok(FileRef {
            // SFI reads address offsets 0..=255 only in their first APDU.
            sfi: if in_app && offset <= 0xFF {
                self.sfi_for(fid)
            } else {
                None
            },
            path: full,
            offset,
            length,
        })
    }

    /// Read a file up to its declared or DER-announced end.
    fn read_file(&mut self, file: &FileRef, shape: Shape) -> Result<Vec<u8>, CardError> {
        if file.length == Some(0) {
            return Ok(Vec::new());
        }
        let key = (file.path.clone(), file.offset);
        if let FileSource::Serve(files) = &self.files {
            if let Some(data) = files.get(&key) {
                return Ok(data.clone());
            }
        }
        let data = self.read_file_from_card(file, shape)?;
        if let FileSource::Record(files) = &mut self.files {
            files.insert(key, data.clone());
        }
        Ok(data)
    }

    fn read_file_from_card(&mut self, file: &FileRef, shape: Shape) -> Result<Vec<u8>, CardError> {
        let max = self.max_ne();
        let first_want = file.length.unwrap_or(FIRST_CHUNK).min(max);
        let (mut data, mut eof) = match file.sfi {
            Some(sfi) => self.read_binary(0x80 | sfi, file.offset as u8, first_want)?,
            None => {
                let r =
                    self.exchange(&Command::new(0x00, 0xA4, 0x08, 0x0C).with_data(&file.path))?;
                if !r.is_ok() {
                    return Err(bind_status(r.sw()));
                }
                self.read_at(file.offset, first_want)?
            }
        };
        loop {
            let target = match file.length {
                Some(len) => len,
                None => match extent(&data, shape, eof)? {
                    Extent::Complete(n) => n,
                    Extent::NeedMore(n) => n,
                },
            };
            if data.len() >= target {
                data.truncate(target);
                return Ok(data);
            }
            if eof {
                return Err(CardError::Malformed(
                    "file shorter than its declared length",
                ));
            }
            let want = (target - data.len()).min(max);
            let (more, end) = self.read_at(file.offset + data.len(), want)?;
            data.extend_from_slice(&more);
            eof = end;
        }
    }

    /// READ BINARY at an offset in the current EF.
    fn read_at(&mut self, offset: usize, want: usize) -> Result<(Vec<u8>, bool), CardError> {
        if offset > 0x7FFF {
            return Err(CardError::Malformed("file larger than 32 KB"));
        }
        self.read_binary((offset >> 8) as u8, (offset & 0xFF) as u8, want)
    }

    /// One READ BINARY; the flag says the end of the file was reached.
    fn read_binary(&mut self, p1: u8, p2: u8, want: usize) -> Result<(Vec<u8>, bool), CardError> {
        let r = self.exchange(&Command::new(0x00, 0xB0, p1, p2).with_le(want))?;
        match r.sw() {
            sw::OK => {
                let short = r.data.len() < want;
                Ok((r.data.to_vec(), short))
            }
            sw::END_OF_FILE => Ok((r.data.to_vec(), true)),
            // Offset at/after the end.
            0x6B00 => Ok((Vec::new(), true)),
            other => Err(bind_status(other)),
        }
    }
}

/// During bind a missing file or application means "not our card" (spec §1.2).
fn bind_status(sw: u16) -> CardError {
    match sw {
        sw::NOT_FOUND => CardError::NotRecognized,
        other => super::status_error(other),
    }
}

#[cfg(test)]
mod tests;
