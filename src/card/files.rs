//! Reading the card's files for bind, in as few APDUs as the card allows
//! (pkcs11-spec.md §1.3, §3.2):
//!
//! - SFI READ BINARY (`00 B0 8x 00`) when the ATR offers SFI, else SELECT by path;
//! - each file only up to its declared length (`Path.length`), or, without one, a
//!   first chunk and then exactly what the DER headers announce;
//! - the largest chunks allowed (65280 bytes with extended length, 256 without);
//! - from a bind cache entry instead of the card when one is being served.

use super::cache::FileKey;
use super::error::status_error;
use super::profile::MF;
use super::{CardError, Tx};
use crate::apdu::sw;
use eimza_pkcs15 as p15;
use std::collections::HashMap;

/// First read of a file whose length nothing declares (ODF, TokenInfo, EF.DIR).
const FIRST_CHUNK: usize = 256;
/// Longest DER header (tag + 0x84 + 4 length bytes) plus one.
const MAX_HEADER: usize = 6;

/// Where bind's file reads come from, and whether they are recorded for the cache.
#[derive(Default)]
pub(crate) enum FileSource {
    /// The card (outside bind, or no cache).
    #[default]
    Card,
    /// Read from the card and remember what was read (cold bind, cache on).
    Record(HashMap<FileKey, Vec<u8>>),
    /// Answer from a cache entry the card's TokenInfo matched; files it lacks are read.
    Serve(HashMap<FileKey, Vec<u8>>),
}

/// How a file's content ends.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
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
pub(crate) struct FileRef {
    pub sfi: Option<u8>,
    /// Path from the MF without `3F00` (SELECT P1 08).
    pub path: Vec<u8>,
    pub offset: usize,
    pub length: Option<usize>,
}

/// A path without a leading `3F00`.
pub(crate) fn strip_mf(path: &[u8]) -> &[u8] {
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

/// During bind a missing file or application means "not our card" (§1.2).
fn bind_status(sw: u16) -> CardError {
    match sw {
        sw::NOT_FOUND => CardError::NotRecognized,
        other => status_error(other),
    }
}

impl Tx<'_, '_> {
    /// A standard file of the PKCS#15 DF (ODF, TokenInfo).
    pub(crate) fn standard_file(&self, fid: [u8; 2]) -> FileRef {
        let mut path = self.app_path.clone();
        path.extend_from_slice(&fid);
        FileRef {
            sfi: self.profile.sfi(&fid),
            path,
            offset: 0,
            length: None,
        }
    }

    /// A file named by a PKCS#15 Path (ODF, CDF, PuKDF entries).
    pub(crate) fn file_ref(&self, path: &p15::Path) -> Result<FileRef, CardError> {
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
                self.profile.sfi(fid)
            } else {
                None
            },
            path: full,
            offset,
            length,
        })
    }

    /// Read a file up to its declared or DER-announced end (from the cache entry being
    /// served, if it has the file; recorded for the cache when recording).
    pub(crate) fn read_file(&mut self, file: &FileRef, shape: Shape) -> Result<Vec<u8>, CardError> {
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
        let max = self.profile.max_ne();
        let first_want = file.length.unwrap_or(FIRST_CHUNK).min(max);
        let (mut data, mut eof) = match file.sfi {
            Some(sfi) => self.read_binary(0x80 | sfi, file.offset as u8, first_want)?,
            None => {
                // The current DF, when the module knows it: the application after it
                // was selected (AKIS v1.0 then selects its EFs by FID, §1.4.1).
                let current_df = self.app_selected.then_some(self.app_path.as_slice());
                let select = self.profile.select_file(&file.path, current_df);
                let r = self.exchange(&select)?;
                if !r.is_ok() {
                    return Err(bind_status(r.sw()));
                }
                // An EF outside the application makes its own DF current.
                let parent = &file.path[..file.path.len().saturating_sub(2)];
                if parent != self.app_path.as_slice() {
                    self.app_selected = false;
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
        let read = self.profile.read_binary(p1, p2, want);
        let r = self.exchange(&read)?;
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
