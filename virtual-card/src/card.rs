//! The card's command processor: one `CardImage`, one card session, one APDU at a time
//! (spec Part 1, §1.4). No I/O except persisting the image after every change of a
//! PIN, PUK or retry counter, which happens *before* the card answers.

use std::path::PathBuf;

use zeroize::Zeroizing;

use crate::apdu::{self, sw, Command};
use crate::crypto::{self, CryptoError, SigningKey};
use crate::image::{CardImage, PinRecord};
use crate::store::{self, StoreError};

pub const MF: u16 = 0x3F00;
pub const PIN_REF: u8 = 0x81;
pub const PUK_REF: u8 = 0x82;

/// What the last APDU cost, so the caller can model a real card's timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    Plain,
    RsaSignature,
    EcdsaSignature,
}

/// A key loaded into the card.
struct LoadedKey {
    key_ref: u8,
    user_consent: bool,
    key: SigningKey,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum CurrentFile {
    #[default]
    None,
    Df,
    /// Index in `image.files`.
    Ef(usize),
}

/// State that lives only as long as the card is powered.
#[derive(Default)]
struct Session {
    /// Path of the current DF; empty until the first reset (the MF is then current).
    current_df: Vec<u16>,
    /// The current file: nothing after a reset, else what SELECT or an SFI read chose.
    current_file: CurrentFile,
    /// References (0x81, 0x82) whose security status is set.
    verified: Vec<u8>,
    /// MSE SET DST: (index in `keys`, algorithm).
    environment: Option<(usize, u8)>,
    /// Response data still to be fetched with GET RESPONSE.
    pending: Option<Vec<u8>>,
    /// The previous command was a successful VERIFY of the PIN (for userConsent keys).
    pin_just_verified: bool,
}

/// The software card's logic.
pub struct Card {
    image: CardImage,
    keys: Vec<LoadedKey>,
    /// Where the image is persisted; `None` for an in-memory card.
    file: Option<PathBuf>,
    session: Session,
}

type Reply = (Vec<u8>, u16);

fn status(sw: u16) -> Reply {
    (Vec::new(), sw)
}

impl Card {
    /// Checks the image, parses its keys and starts a card session (MF selected).
    pub fn new(image: CardImage, file: Option<PathBuf>) -> Result<Self, StoreError> {
        store::validate(&image)?;
        let mut keys = Vec::new();
        for card_key in &image.keys {
            let key = SigningKey::from_card_key(card_key)
                .map_err(|e| StoreError::Corrupt(format!("key {:02X}: {e}", card_key.key_ref)))?;
            keys.push(LoadedKey {
                key_ref: card_key.key_ref,
                user_consent: card_key.user_consent,
                key,
            });
        }
        let mut card = Card {
            image,
            keys,
            file,
            session: Session::default(),
        };
        card.reset_session();
        Ok(card)
    }

    pub fn image(&self) -> &CardImage {
        &self.image
    }

    /// Power-on or reset: the security status, environment and selection are gone.
    pub fn reset_session(&mut self) {
        self.session = Session {
            current_df: vec![MF],
            ..Session::default()
        };
    }

    /// Whether the security status of `reference` is currently set.
    pub fn is_verified(&self, reference: u8) -> bool {
        self.session.verified.contains(&reference)
    }

    /// Processes one command APDU and returns `data ‖ SW1 SW2`.
    pub fn process(&mut self, raw: &[u8]) -> (Vec<u8>, Work) {
        let command = match apdu::parse(raw) {
            Ok(command) => command,
            // Malformed: answer without touching any state.
            Err(status) => return (apdu::response(&[], status), Work::Plain),
        };
        let is_get_response = command.cla == 0x00 && command.ins == 0xC0;
        if !is_get_response {
            self.session.pending = None;
        }
        let pin_just_verified = std::mem::take(&mut self.session.pin_just_verified);
        let mut work = Work::Plain;
        let (data, status) = match (command.cla, command.ins) {
            (0x00, 0xA4) => self.select(&command),
            (0x00, 0xB0) => self.read_binary(&command),
            (0x00, 0xC0) => return (self.get_response(&command), Work::Plain),
            (0x00, 0x20) => self.verify(&command),
            (0x00, 0x24) => self.change_reference_data(&command),
            (0x00, 0x2C) => self.reset_retry_counter(&command),
            (0x80, 0x1A) => self.logout(&command),
            (0x00, 0x22) => self.manage_security_environment(&command),
            (0x00, 0x2A) => self.compute_signature(&command, pin_just_verified, &mut work),
            (0x00, 0x84) => self.get_challenge(&command),
            (0x00, 0xCA) => self.get_data(&command),
            (0x00 | 0x80, _) => status(sw::INS_NOT_SUPPORTED),
            _ => status(sw::CLA_NOT_SUPPORTED),
        };
        (self.reply(data, status, command.ne), work)
    }

    /// Sends at most Ne bytes; the rest waits for GET RESPONSE behind `61xx`.
    fn reply(&mut self, mut data: Vec<u8>, status: u16, ne: Option<usize>) -> Vec<u8> {
        let ne = ne.unwrap_or(0);
        if status != sw::OK || data.len() <= ne {
            return apdu::response(&data, status);
        }
        let rest = data.split_off(ne);
        let out = apdu::response(&data, sw::bytes_remaining(rest.len()));
        self.session.pending = Some(rest);
        out
    }

    fn get_response(&mut self, c: &Command) -> Vec<u8> {
        if c.p1p2() != 0 {
            return apdu::response(&[], sw::WRONG_P1P2);
        }
        let Some(ne) = c.ne else {
            return apdu::response(&[], sw::WRONG_LENGTH);
        };
        if !c.data.is_empty() {
            return apdu::response(&[], sw::WRONG_LENGTH);
        }
        match self.session.pending.take() {
            None => apdu::response(&[], sw::CONDITIONS_NOT_SATISFIED),
            Some(pending) => self.reply(pending, sw::OK, Some(ne)),
        }
    }

    // ---- file system -------------------------------------------------------------

    fn find(&self, path: &[u16]) -> Option<usize> {
        self.image.files.iter().position(|f| f.path == path)
    }

    /// A DF node, the MF, or a folder that only appears in the paths of other files.
    fn is_df(&self, path: &[u16]) -> bool {
        match self.find(path) {
            Some(i) => self.image.files[i].body.is_none(),
            None => {
                path == [MF]
                    || self
                        .image
                        .files
                        .iter()
                        .any(|f| f.path.len() > path.len() && f.path.starts_with(path))
            }
        }
    }

    fn select(&mut self, c: &Command) -> Reply {
        if !matches!(c.p2, 0x00 | 0x04 | 0x0C) {
            return status(sw::WRONG_P1P2);
        }
        let target: Vec<u16> = match c.p1 {
            0x00 => match c.data {
                [] | [0x3F, 0x00] => vec![MF],
                [hi, lo] => {
                    let mut path = self.session.current_df.clone();
                    path.push(u16::from_be_bytes([*hi, *lo]));
                    path
                }
                _ => return status(sw::WRONG_LENGTH),
            },
            0x04 => {
                if c.data.is_empty() {
                    return status(sw::WRONG_LENGTH);
                }
                match self
                    .image
                    .files
                    .iter()
                    .find(|f| f.df_name.as_deref() == Some(c.data))
                {
                    Some(node) => node.path.clone(),
                    None => return status(sw::FILE_NOT_FOUND),
                }
            }
            0x08 => {
                if c.data.is_empty() || c.data.len() % 2 != 0 {
                    return status(sw::WRONG_LENGTH);
                }
                let mut path = vec![MF];
                path.extend(
                    c.data
                        .chunks_exact(2)
                        .map(|p| u16::from_be_bytes([p[0], p[1]])),
                );
                path
            }
            _ => return status(sw::WRONG_P1P2),
        };
        if self.is_df(&target) {
            self.session.current_df = target.clone();
            self.session.current_file = CurrentFile::Df;
        } else if let Some(index) = self.find(&target) {
            self.session.current_df = target[..target.len() - 1].to_vec();
            self.session.current_file = CurrentFile::Ef(index);
        } else {
            return status(sw::FILE_NOT_FOUND);
        }
        match c.p2 {
            0x0C => status(sw::OK),
            0x04 => (self.fcp(&target), sw::OK),
            _ => (self.fci(&target), sw::OK),
        }
    }

    fn node_info(&self, path: &[u16]) -> (Option<&[u8]>, Option<usize>) {
        match self.find(path) {
            Some(i) => {
                let node = &self.image.files[i];
                (node.df_name.as_deref(), node.body.as_ref().map(Vec::len))
            }
            None => (None, None),
        }
    }

    /// FCP: `62 { [80 size] 82 descriptor 83 FID [84 name] 8A LCS }`.
    fn fcp(&self, path: &[u16]) -> Vec<u8> {
        let (name, size) = self.node_info(path);
        let fid = path.last().copied().unwrap_or(MF);
        let mut body = Vec::new();
        if let Some(size) = size {
            let size = u16::try_from(size).unwrap_or(u16::MAX);
            tlv(&mut body, 0x80, &size.to_be_bytes());
            tlv(&mut body, 0x82, &[0x01]); // transparent working EF
        } else {
            tlv(&mut body, 0x82, &[0x38]); // DF
        }
        tlv(&mut body, 0x83, &fid.to_be_bytes());
        if let Some(name) = name {
            tlv(&mut body, 0x84, name);
        }
        tlv(&mut body, 0x8A, &[0x05]); // operational, activated
        let mut out = Vec::new();
        tlv(&mut out, 0x62, &body);
        out
    }

    /// FCI: `6F { 84 AID, A5 {} }` for a named DF, else `6F` with the FCP's contents.
    fn fci(&self, path: &[u16]) -> Vec<u8> {
        let (name, _) = self.node_info(path);
        let mut body = Vec::new();
        match name {
            Some(name) => {
                tlv(&mut body, 0x84, name);
                tlv(&mut body, 0xA5, &[]);
            }
            None => body = self.fcp(path).split_off(2),
        }
        let mut out = Vec::new();
        tlv(&mut out, 0x6F, &body);
        out
    }

    fn read_binary(&mut self, c: &Command) -> Reply {
        if !c.data.is_empty() {
            return status(sw::WRONG_LENGTH);
        }
        let Some(ne) = c.ne else {
            return status(sw::WRONG_LENGTH);
        };
        let (index, offset) = if c.p1 & 0x80 != 0 {
            if c.p1 & 0x60 != 0 {
                return status(sw::WRONG_P1P2);
            }
            let sfi = c.p1 & 0x1F;
            let df = &self.session.current_df;
            let found = self.image.files.iter().position(|f| {
                f.body.is_some()
                    && f.path.len() == df.len() + 1
                    && f.path.starts_with(df)
                    && f.path.last().is_some_and(|fid| (fid & 0x1F) as u8 == sfi)
            });
            match found {
                Some(index) if sfi != 0 => {
                    self.session.current_file = CurrentFile::Ef(index);
                    (index, usize::from(c.p2))
                }
                _ => return status(sw::FILE_NOT_FOUND),
            }
        } else {
            match self.session.current_file {
                CurrentFile::Ef(index) => (index, usize::from(c.p1p2() & 0x7FFF)),
                CurrentFile::Df => return status(sw::INCOMPATIBLE_FILE),
                CurrentFile::None => return status(sw::NO_CURRENT_EF),
            }
        };
        let Some(body) = self.image.files.get(index).and_then(|f| f.body.as_ref()) else {
            return status(sw::INCOMPATIBLE_FILE);
        };
        if offset >= body.len() {
            return status(sw::OFFSET_OUTSIDE);
        }
        let end = body.len().min(offset + ne);
        let data = body[offset..end].to_vec();
        let status = if data.len() < ne {
            sw::END_OF_FILE
        } else {
            sw::OK
        };
        (data, status)
    }

    // ---- PIN management ------------------------------------------------------------

    fn pin_index(&self, reference: u8) -> Option<usize> {
        self.image
            .pins
            .iter()
            .position(|p| p.reference == reference)
    }

    /// Replaces PIN records and persists the image; on a write failure the records are
    /// put back so memory matches the file, and the card answers `6F00`.
    fn commit(&mut self, changes: Vec<(usize, PinRecord)>) -> Result<(), u16> {
        let mut previous = Vec::new();
        for (index, record) in changes {
            previous.push((
                index,
                std::mem::replace(&mut self.image.pins[index], record),
            ));
        }
        let Some(file) = &self.file else {
            return Ok(());
        };
        match store::save(file, &self.image) {
            Ok(()) => Ok(()),
            Err(_) => {
                for (index, record) in previous.into_iter().rev() {
                    self.image.pins[index] = record;
                }
                Err(sw::NO_DIAGNOSIS)
            }
        }
    }

    /// Spends one try (persisted before the comparison, like a real card) and compares.
    /// `Ok(true)`: right value, the caller restores the counter in its own commit.
    /// `Ok(false)`: wrong value, the try stays spent.
    fn spend_try_and_compare(&mut self, index: usize, candidate: &[u8]) -> Result<bool, u16> {
        let record = &self.image.pins[index];
        if record.tries_left == 0 {
            return Err(sw::AUTH_BLOCKED);
        }
        let mut spent = record.clone();
        spent.tries_left -= 1;
        self.commit(vec![(index, spent)])?;
        let record = &self.image.pins[index];
        let matches = constant_time_eq(&record.value, candidate);
        if !matches && record.tries_left == 0 {
            let reference = record.reference;
            self.session.verified.retain(|r| *r != reference);
        }
        Ok(matches)
    }

    fn restored(&self, index: usize) -> PinRecord {
        let mut record = self.image.pins[index].clone();
        record.tries_left = record.max_tries;
        record
    }

    fn tries_left_status(&self, index: usize) -> u16 {
        sw::tries_left(self.image.pins[index].tries_left)
    }

    fn set_verified(&mut self, reference: u8) {
        if !self.session.verified.contains(&reference) {
            self.session.verified.push(reference);
        }
    }

    /// The policy check that costs no try: exact length (`6700`) and digits (`6A80`).
    fn check_format(&self, index: usize, value: &[u8]) -> Result<(), u16> {
        if value.len() != self.image.pins[index].length {
            return Err(sw::WRONG_LENGTH);
        }
        if !value.iter().all(u8::is_ascii_digit) {
            return Err(sw::WRONG_DATA);
        }
        Ok(())
    }

    fn verify(&mut self, c: &Command) -> Reply {
        if c.p1 != 0x00 {
            return status(sw::WRONG_P1P2);
        }
        let Some(index) = self.pin_index(c.p2) else {
            return status(sw::REF_NOT_FOUND);
        };
        let blocked = self.image.pins[index].tries_left == 0;
        if c.data.is_empty() {
            // Counter query: never spends a try.
            return status(if blocked {
                sw::AUTH_BLOCKED
            } else if self.is_verified(c.p2) {
                sw::OK
            } else {
                self.tries_left_status(index)
            });
        }
        if blocked {
            return status(sw::AUTH_BLOCKED);
        }
        if let Err(sw) = self.check_format(index, c.data) {
            return status(sw);
        }
        match self.spend_try_and_compare(index, c.data) {
            Err(sw) => status(sw),
            Ok(false) => status(self.tries_left_status(index)),
            Ok(true) => {
                if let Err(sw) = self.commit(vec![(index, self.restored(index))]) {
                    return status(sw);
                }
                self.set_verified(c.p2);
                self.session.pin_just_verified = c.p2 == PIN_REF;
                status(sw::OK)
            }
        }
    }

    fn change_reference_data(&mut self, c: &Command) -> Reply {
        if c.p1 != 0x00 {
            return status(sw::WRONG_P1P2);
        }
        let Some(index) = self.pin_index(c.p2) else {
            return status(sw::REF_NOT_FOUND);
        };
        if self.image.pins[index].tries_left == 0 {
            return status(sw::AUTH_BLOCKED);
        }
        let length = self.image.pins[index].length;
        if c.data.len() != 2 * length {
            return status(sw::WRONG_LENGTH);
        }
        let (old, new) = c.data.split_at(length);
        if !old.iter().chain(new).all(u8::is_ascii_digit) {
            return status(sw::WRONG_DATA);
        }
        match self.spend_try_and_compare(index, old) {
            Err(sw) => status(sw),
            Ok(false) => {
                if c.p2 == PIN_REF {
                    self.session.verified.retain(|r| *r != PIN_REF);
                }
                status(self.tries_left_status(index))
            }
            Ok(true) => {
                let mut record = self.restored(index);
                record.value = Zeroizing::new(new.to_vec());
                if let Err(sw) = self.commit(vec![(index, record)]) {
                    return status(sw);
                }
                self.set_verified(c.p2);
                status(sw::OK)
            }
        }
    }

    fn reset_retry_counter(&mut self, c: &Command) -> Reply {
        if c.p2 != PIN_REF || !matches!(c.p1, 0x00..=0x02) {
            return status(sw::WRONG_P1P2);
        }
        let (Some(pin), Some(puk)) = (self.pin_index(PIN_REF), self.pin_index(PUK_REF)) else {
            return status(sw::REF_NOT_FOUND);
        };
        let puk_len = self.image.pins[puk].length;
        let pin_len = self.image.pins[pin].length;
        let (puk_value, new_pin): (Option<&[u8]>, Option<&[u8]>) = match c.p1 {
            0x00 if c.data.len() == puk_len + pin_len => {
                let (p, n) = c.data.split_at(puk_len);
                (Some(p), Some(n))
            }
            0x01 if c.data.len() == puk_len => (Some(c.data), None),
            0x02 if c.data.len() == pin_len => (None, Some(c.data)),
            _ => return status(sw::WRONG_LENGTH),
        };
        if self.image.pins[puk].tries_left == 0 {
            return status(sw::AUTH_BLOCKED);
        }
        if !c.data.iter().all(u8::is_ascii_digit) {
            return status(sw::WRONG_DATA);
        }
        let mut changes = Vec::new();
        match puk_value {
            Some(value) => match self.spend_try_and_compare(puk, value) {
                Err(sw) => return status(sw),
                Ok(false) => return status(self.tries_left_status(puk)),
                Ok(true) => changes.push((puk, self.restored(puk))),
            },
            None if !self.is_verified(PUK_REF) => return status(sw::SECURITY_NOT_SATISFIED),
            None => {}
        }
        let mut pin_record = self.restored(pin);
        if let Some(new_pin) = new_pin {
            pin_record.value = Zeroizing::new(new_pin.to_vec());
        }
        changes.push((pin, pin_record));
        match self.commit(changes) {
            Ok(()) => status(sw::OK),
            Err(sw) => status(sw),
        }
    }

    fn logout(&mut self, c: &Command) -> Reply {
        if c.p1p2() != 0 {
            return status(sw::WRONG_P1P2);
        }
        if !c.data.is_empty() {
            return status(sw::WRONG_LENGTH);
        }
        self.session.verified.clear();
        status(sw::OK)
    }

    // ---- signatures --------------------------------------------------------------------

    fn manage_security_environment(&mut self, c: &Command) -> Reply {
        if c.p1p2() != 0x41B6 {
            return status(sw::WRONG_P1P2);
        }
        // A failed MSE leaves no environment, so a later PSO cannot use a stale key.
        self.session.environment = None;
        let mut algorithm = None;
        let mut key_ref = None;
        let mut rest = c.data;
        while !rest.is_empty() {
            let [tag, len, tail @ ..] = rest else {
                return status(sw::WRONG_DATA);
            };
            let len = usize::from(*len);
            if len >= 0x80 || tail.len() < len {
                return status(sw::WRONG_DATA);
            }
            let (value, tail) = tail.split_at(len);
            let slot = match tag {
                0x80 => &mut algorithm,
                0x84 => &mut key_ref,
                _ => return status(sw::WRONG_DATA),
            };
            match value {
                [byte] if slot.is_none() => *slot = Some(*byte),
                _ => return status(sw::WRONG_DATA),
            }
            rest = tail;
        }
        let (Some(algorithm), Some(key_ref)) = (algorithm, key_ref) else {
            return status(sw::WRONG_DATA);
        };
        let Some(index) = self.keys.iter().position(|k| k.key_ref == key_ref) else {
            return status(sw::REF_NOT_FOUND);
        };
        if !self.keys[index].key.supports(algorithm) {
            return status(sw::WRONG_DATA);
        }
        self.session.environment = Some((index, algorithm));
        status(sw::OK)
    }

    fn compute_signature(
        &mut self,
        c: &Command,
        pin_just_verified: bool,
        work: &mut Work,
    ) -> Reply {
        if c.p1p2() != 0x9E9A {
            return status(sw::WRONG_P1P2);
        }
        let Some((index, algorithm)) = self.session.environment else {
            return status(sw::CONDITIONS_NOT_SATISFIED);
        };
        if !self.is_verified(PIN_REF) {
            return status(sw::SECURITY_NOT_SATISFIED);
        }
        let loaded = &self.keys[index];
        if loaded.user_consent && !pin_just_verified {
            return status(sw::SECURITY_NOT_SATISFIED);
        }
        match loaded.key.sign(algorithm, c.data) {
            Ok(signature) => {
                *work = if loaded.key.is_rsa() {
                    Work::RsaSignature
                } else {
                    Work::EcdsaSignature
                };
                if loaded.user_consent {
                    // userConsent: one verification, one signature.
                    self.session.verified.retain(|r| *r != PIN_REF);
                }
                (signature, sw::OK)
            }
            Err(CryptoError::BadInput | CryptoError::AlgorithmMismatch) => status(sw::WRONG_DATA),
            Err(CryptoError::BadKey(_) | CryptoError::Failed(_)) => status(sw::NO_DIAGNOSIS),
        }
    }

    // ---- miscellaneous ------------------------------------------------------------------

    fn get_challenge(&mut self, c: &Command) -> Reply {
        if c.p1p2() != 0 {
            return status(sw::WRONG_P1P2);
        }
        let Some(ne) = c.ne.filter(|_| c.data.is_empty()) else {
            return status(sw::WRONG_LENGTH);
        };
        let mut random = vec![0u8; ne];
        match getrandom::fill(&mut random) {
            Ok(()) => (random, sw::OK),
            Err(_) => status(sw::NO_DIAGNOSIS),
        }
    }

    fn get_data(&mut self, c: &Command) -> Reply {
        if c.p1 != 0x01 {
            return status(sw::WRONG_P1P2);
        }
        if !c.data.is_empty() {
            return status(sw::WRONG_LENGTH);
        }
        match c.p2 {
            0x06 => {
                let mut data = vec![0u8; 0x4D];
                let serial = &self.image.serial;
                let serial = &serial[serial.len().saturating_sub(12)..];
                data[67 - serial.len()..67].copy_from_slice(serial);
                (data, sw::OK)
            }
            0x04 => {
                let mut data = vec![0u8; 8];
                data[6] = 0xA5; // user phase
                (data, sw::OK)
            }
            _ => status(sw::REF_NOT_FOUND),
        }
    }
}

/// Comparison whose time does not depend on where the values differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn tlv(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag);
    // BER definite length; FCP/FCI values are always short.
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.push(0x82);
        out.extend_from_slice(&(len.min(0xFFFF) as u16).to_be_bytes());
    }
    out.extend_from_slice(value);
}

/// Algorithm identifiers, re-exported for callers building MSE commands.
pub use crypto::alg;
