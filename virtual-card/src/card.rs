//! The card's command processor: one `CardImage`, one card session, one APDU at a time
//! (spec Part 1, §1.4). No I/O except persisting the image after every change of a
//! PIN, PUK or retry counter, which happens *before* the card answers.
//!
//! The image's [`CardFamily`] decides which command forms the card accepts (spec §1.4
//! "Per family"): a strict card answers every other form `6A86`/`6D00`/`6700`, so a
//! host that sends a form of the wrong family fails its tests.

use std::path::PathBuf;

use zeroize::Zeroizing;

use crate::apdu::{self, sw, Command};
use crate::crypto::{self, CryptoError, SigningKey};
use crate::image::{CardFamily, CardImage, PinRecord};
use crate::store::{self, StoreError};

pub const MF: u16 = 0x3F00;
pub const PIN_REF: u8 = 0x81;
pub const PUK_REF: u8 = 0x82;

/// [AKIS] v1.0: at most 244 bytes of command data and of response data per APDU
/// (OpenSC's card-akis.c: `max_send_size` and `max_recv_size` 244).
pub const V10_MAX_DATA: usize = 244;

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
        // Lengths the family's ATR does not offer: refused like a malformed APDU,
        // before anything (even pending GET RESPONSE data) changes.
        if let Err(status) = self.check_lengths(&command) {
            return (apdu::response(&[], status), Work::Plain);
        }
        let is_get_response = command.cla == 0x00 && command.ins == 0xC0;
        if !is_get_response {
            self.session.pending = None;
        }
        let pin_just_verified = std::mem::take(&mut self.session.pin_just_verified);
        let mut work = Work::Plain;
        let v10 = self.family() == CardFamily::V10;
        let (data, status) = match (command.cla, command.ins) {
            (0x00, 0xA4) if v10 => self.select_v10(&command),
            (0x00, 0xA4) => self.select(&command),
            (0x00, 0xB0) => self.read_binary(&command),
            (0x00, 0xC0) => return (self.get_response(&command), Work::Plain),
            (0x00, 0x20) => self.verify(&command),
            (0x00, 0x24) if v10 => self.change_pin_v10(&command),
            (0x00, 0x24) => self.change_reference_data(&command),
            (0x00, 0x2C) => self.reset_retry_counter(&command),
            (0x80, 0x1A) => self.logout(&command),
            (0x00, 0x22) if v10 => self.set_key_v10(&command),
            (0x00, 0x22) => self.manage_security_environment(&command),
            (0x00, 0x2A) => self.compute_signature(&command, pin_just_verified, &mut work),
            (0x00, 0x84) => self.get_challenge(&command),
            (0x00, 0xCA) => self.get_data(&command),
            (0x00 | 0x80, _) => status(sw::INS_NOT_SUPPORTED),
            _ => status(sw::CLA_NOT_SUPPORTED),
        };
        (self.reply(data, status, command.ne), work)
    }

    pub fn family(&self) -> CardFamily {
        self.image.family
    }

    /// The family's ATR (spec §1.1).
    pub fn atr(&self) -> &'static [u8] {
        crate::vcard::atr_of(self.family())
    }

    /// v1.x and v1.0 ATRs offer no extended length; v1.0 takes at most 244 bytes of
    /// data and produces at most 244 in one piece (READ BINARY, GET CHALLENGE).
    fn check_lengths(&self, c: &Command) -> Result<(), u16> {
        let family = self.family();
        if c.extended && family != CardFamily::V2x {
            return Err(sw::WRONG_LENGTH);
        }
        if family == CardFamily::V10 {
            let one_piece = c.cla == 0x00 && matches!(c.ins, 0xB0 | 0x84);
            if c.data.len() > V10_MAX_DATA
                || (one_piece && c.ne.is_some_and(|ne| ne > V10_MAX_DATA))
            {
                return Err(sw::WRONG_LENGTH);
            }
        }
        Ok(())
    }

    /// Sends at most Ne bytes (v1.0: at most 244); the rest waits for GET RESPONSE
    /// behind `61xx`.
    fn reply(&mut self, mut data: Vec<u8>, status: u16, ne: Option<usize>) -> Vec<u8> {
        let mut ne = ne.unwrap_or(0);
        if self.family() == CardFamily::V10 {
            ne = ne.min(V10_MAX_DATA);
        }
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
        if !self.make_current(&target) {
            return status(sw::FILE_NOT_FOUND);
        }
        match c.p2 {
            0x0C => status(sw::OK),
            0x04 => (self.fcp(&target), sw::OK),
            _ => (self.fci(&target), sw::OK),
        }
    }

    /// Make the DF or EF at `target` the current file (an EF's DF the current DF);
    /// false when there is no such file. The end of every SELECT form.
    fn make_current(&mut self, target: &[u16]) -> bool {
        if self.is_df(target) {
            self.session.current_df = target.to_vec();
            self.session.current_file = CurrentFile::Df;
        } else if let Some(index) = self.find(target) {
            self.session.current_df = target[..target.len() - 1].to_vec();
            self.session.current_file = CurrentFile::Ef(index);
        } else {
            return false;
        }
        true
    }

    /// [AKIS] v1.0 SELECT (OpenSC's card-akis.c): P1 `00` the MF (empty data or
    /// `3F00`) or a DF by its FID under the current DF; P1 `02` an EF by its FID under
    /// the current DF; P1 `08` an absolute path that starts with `3F00`. Always P2 `00`:
    /// the answer is an FCI with the proprietary security byte (tag `90`).
    fn select_v10(&mut self, c: &Command) -> Reply {
        if c.p2 != 0x00 {
            return status(sw::WRONG_P1P2);
        }
        let fid = |data: &[u8]| match data {
            [hi, lo] => Ok(u16::from_be_bytes([*hi, *lo])),
            _ => Err(sw::WRONG_LENGTH),
        };
        let child = |card: &Card, fid: u16| {
            let mut path = card.session.current_df.clone();
            path.push(fid);
            path
        };
        let target = match c.p1 {
            0x00 => match c.data {
                [] | [0x3F, 0x00] => vec![MF],
                data => match fid(data) {
                    Ok(fid) => {
                        let path = child(self, fid);
                        if !self.is_df(&path) {
                            return status(sw::FILE_NOT_FOUND);
                        }
                        path
                    }
                    Err(sw) => return status(sw),
                },
            },
            0x02 => match fid(c.data) {
                Ok(fid) => {
                    let path = child(self, fid);
                    if self.is_df(&path) {
                        return status(sw::FILE_NOT_FOUND);
                    }
                    path
                }
                Err(sw) => return status(sw),
            },
            0x08 => {
                if c.data.len() < 4 || c.data.len() % 2 != 0 {
                    return status(sw::WRONG_LENGTH);
                }
                let path: Vec<u16> = c
                    .data
                    .chunks_exact(2)
                    .map(|p| u16::from_be_bytes([p[0], p[1]]))
                    .collect();
                if path[0] != MF {
                    return status(sw::FILE_NOT_FOUND);
                }
                path
            }
            _ => return status(sw::WRONG_P1P2),
        };
        if !self.make_current(&target) {
            return status(sw::FILE_NOT_FOUND);
        }
        (self.fci_v10(&target), sw::OK)
    }

    /// v1.0 FCI: `6F { 83 FID, 82 descriptor, [80 size], [84 name], 90 security }`.
    /// Security byte bits per card-akis.c: `02` valid, `10` read [AKIS]; the values are
    /// ours [OWN].
    fn fci_v10(&self, path: &[u16]) -> Vec<u8> {
        let (name, size) = self.node_info(path);
        let fid = path.last().copied().unwrap_or(MF);
        let mut body = Vec::new();
        tlv(&mut body, 0x83, &fid.to_be_bytes());
        match size {
            Some(size) => {
                tlv(&mut body, 0x82, &[0x01]);
                let size = u16::try_from(size).unwrap_or(u16::MAX);
                tlv(&mut body, 0x80, &size.to_be_bytes());
                tlv(&mut body, 0x90, &[0x12]);
            }
            None => {
                tlv(&mut body, 0x82, &[0x38]);
                if let Some(name) = name {
                    tlv(&mut body, 0x84, name);
                }
                tlv(&mut body, 0x90, &[0x02]);
            }
        }
        let mut out = Vec::new();
        tlv(&mut out, 0x6F, &body);
        out
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
            // Only the v2.x ATR offers SFI (card-capabilities byte 1, bit 0x04).
            if c.p1 & 0x60 != 0 || self.family() != CardFamily::V2x {
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
        if c.data.is_empty() && self.family() == CardFamily::V10 {
            // [OWN] The public v1.0 command set has no retry-counter query: a strict
            // v1.0 card refuses VERIFY without data, spending nothing.
            return status(sw::WRONG_LENGTH);
        }
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
        self.change_value(index, c.p2, old, new)
    }

    /// [AKIS] v1.0 CHANGE PIN: `00 24 P1 P2 Lc len(old) old len(new) new`; P1 `02`
    /// with P2 = reference without bit 8 for references that have it (ours: `81` →
    /// `02 01`, `82` → `02 02`), P1 `01` with P2 = the reference otherwise.
    fn change_pin_v10(&mut self, c: &Command) -> Reply {
        let reference = match (c.p1, c.p2) {
            (0x01, p2) if p2 & 0x80 == 0 => p2,
            (0x02, p2) if p2 & 0x80 == 0 => p2 | 0x80,
            _ => return status(sw::WRONG_P1P2),
        };
        let Some(index) = self.pin_index(reference) else {
            return status(sw::REF_NOT_FOUND);
        };
        if self.image.pins[index].tries_left == 0 {
            return status(sw::AUTH_BLOCKED);
        }
        let Some((old, new)) = split_length_prefixed(c.data) else {
            return status(sw::WRONG_LENGTH);
        };
        let length = self.image.pins[index].length;
        if old.len() != length || new.len() != length {
            return status(sw::WRONG_LENGTH);
        }
        self.change_value(index, reference, old, new)
    }

    /// The part of a change both forms share: digits (`6A80`, no try), then one try.
    fn change_value(&mut self, index: usize, reference: u8, old: &[u8], new: &[u8]) -> Reply {
        if !old.iter().chain(new).all(u8::is_ascii_digit) {
            return status(sw::WRONG_DATA);
        }
        match self.spend_try_and_compare(index, old) {
            Err(sw) => status(sw),
            Ok(false) => {
                if reference == PIN_REF {
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
                self.set_verified(reference);
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

    /// [AKIS] v1.0 MSE: `00 22 C3 keyref`, no data: the key for the next PSO, which
    /// is always an RSA PKCS#1 v1.5 signature (the only algorithm of v1.0 cards).
    fn set_key_v10(&mut self, c: &Command) -> Reply {
        if c.p1 != 0xC3 {
            return status(sw::WRONG_P1P2);
        }
        self.session.environment = None;
        if !c.data.is_empty() {
            return status(sw::WRONG_LENGTH);
        }
        let Some(index) = self.keys.iter().position(|k| k.key_ref == c.p2) else {
            return status(sw::REF_NOT_FOUND);
        };
        if !self.keys[index].key.supports(crypto::alg::RSA_PKCS1) {
            return status(sw::REF_NOT_FOUND);
        }
        self.session.environment = Some((index, crypto::alg::RSA_PKCS1));
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

/// `len(a) a len(b) b` with nothing after it (v1.0 CHANGE PIN data).
fn split_length_prefixed(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&first_len, rest) = data.split_first()?;
    let first_len = usize::from(first_len);
    if rest.len() < first_len {
        return None;
    }
    let (first, rest) = rest.split_at(first_len);
    let (&second_len, second) = rest.split_first()?;
    (second.len() == usize::from(second_len)).then_some((first, second))
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
