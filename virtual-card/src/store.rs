//! The card file: a `CardImage` (files, keys, PIN/PUK values and retry counters) on disk.
//!
//! Layout (all integers big-endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `EIMZA-VC` |
//! | 8 | 2 | format version (1) |
//! | 10 | 2 | card family: 0 v2.x (all files before families existed), 1 v1.0, 2 v1.x |
//! | 12 | 4 | payload length L |
//! | 16 | L | payload (see `encode_payload`) |
//! | 16 + L | 32 | SHA-256 of bytes 0 .. 16 + L |
//!
//! Writes are atomic: a temporary file in the same folder is written and fsynced, then
//! renamed over FILE, then the folder is fsynced (Windows: `MoveFileExW` with
//! `MOVEFILE_WRITE_THROUGH` instead), so a crash leaves either the old or the new card,
//! never a mix. Private keys and PINs are stored in clear: this is a test card.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::image::{CardFamily, CardImage, CardKey, FileNode, KeyAlgorithm, PinRecord};

pub const MAGIC: &[u8; 8] = b"EIMZA-VC";
pub const FORMAT_VERSION: u16 = 1;
const HEADER_LEN: usize = 16;
const CHECKSUM_LEN: usize = 32;
/// Sanity bound: real images are a few tens of KB.
const MAX_PAYLOAD: usize = 16 * 1024 * 1024;

/// Why a card file could not be read or written.
#[derive(Debug)]
pub enum StoreError {
    /// The file could not be read or written.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file does not start with the card magic: not a card file.
    NotACardFile,
    /// A card file of a format version this program does not know.
    UnsupportedVersion(u16),
    /// The file is shorter or longer than its header says.
    Truncated,
    /// The checksum does not match: the file was damaged or edited.
    ChecksumMismatch,
    /// The checksum matches but the contents do not make sense.
    Corrupt(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            StoreError::NotACardFile => write!(f, "not an eimza software card file"),
            StoreError::UnsupportedVersion(v) => {
                write!(f, "card file format version {v} is not supported (this program reads {FORMAT_VERSION})")
            }
            StoreError::Truncated => write!(f, "card file is truncated or has trailing data"),
            StoreError::ChecksumMismatch => write!(f, "card file checksum mismatch (damaged file)"),
            StoreError::Corrupt(why) => write!(f, "card file is corrupt: {why}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads and checks a card file.
pub fn load(path: &Path) -> Result<CardImage, StoreError> {
    remove_stale_temp_files(path);
    let bytes = Zeroizing::new(fs::read(path).map_err(io_error(path))?);
    decode(&bytes)
}

/// Removes the temporary files (`.NAME.PID.tmp`) that writers killed in the middle of
/// [`save`] left next to `path`: they hold keys and PINs. Only those of processes that
/// no longer exist (Linux `/proc`; elsewhere nothing is removed). Found by
/// tests/kill_safety.rs: every kill -9 during a save left one behind.
fn remove_stale_temp_files(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    if !Path::new("/proc/self").exists() {
        return;
    }
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let file = file.to_string_lossy();
        let Some(pid) = file
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".tmp"))
        else {
            continue;
        };
        if !pid.is_empty()
            && pid.bytes().all(|b| b.is_ascii_digit())
            && !Path::new("/proc").join(pid).exists()
        {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Writes a card file atomically (see the module documentation).
pub fn save(path: &Path, image: &CardImage) -> Result<(), StoreError> {
    let bytes = encode(image);
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| StoreError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path"),
        })?
        .to_string_lossy();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = write_synced(&temp, &bytes).and_then(|()| replace_durably(&temp, path, &dir));
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Renames `temp` over `path` (which may exist) and returns once the rename is on disk.
#[cfg(not(windows))]
fn replace_durably(temp: &Path, path: &Path, dir: &Path) -> Result<(), StoreError> {
    fs::rename(temp, path).map_err(io_error(path))?;
    // The rename is durable only once the folder entry is on disk.
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))
}

/// Windows: a folder cannot be opened like a file to sync it (`File::open` answers
/// "access denied", which made every PIN change fail with 6F00). `MoveFileExW` with
/// `MOVEFILE_WRITE_THROUGH` is the documented durable rename: it returns once the
/// move is flushed to disk; `MOVEFILE_REPLACE_EXISTING` replaces the old card file.
#[cfg(windows)]
#[allow(unsafe_code)]
fn replace_durably(temp: &Path, path: &Path, _dir: &Path) -> Result<(), StoreError> {
    use std::os::windows::ffi::OsStrExt;
    const MOVEFILE_REPLACE_EXISTING: u32 = 0x1;
    const MOVEFILE_WRITE_THROUGH: u32 = 0x8;
    #[link(name = "kernel32")]
    extern "system" {
        fn MoveFileExW(existing: *const u16, new: *const u16, flags: u32) -> i32;
    }
    let wide = |p: &Path| -> Vec<u16> { p.as_os_str().encode_wide().chain([0]).collect() };
    let (from, to) = (wide(temp), wide(path));
    // SAFETY: two NUL-terminated UTF-16 strings that live across the call.
    let moved = unsafe {
        MoveFileExW(
            from.as_ptr(),
            to.as_ptr(),
            MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH,
        )
    };
    if moved == 0 {
        return Err(io_error(path)(std::io::Error::last_os_error()));
    }
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // The file holds private keys and PINs.
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io_error(path))?;
    file.write_all(bytes).map_err(io_error(path))?;
    file.sync_all().map_err(io_error(path))
}

/// The whole file content for `image`.
pub fn encode(image: &CardImage) -> Zeroizing<Vec<u8>> {
    let payload = encode_payload(image);
    let mut out = Zeroizing::new(Vec::with_capacity(
        HEADER_LEN + payload.len() + CHECKSUM_LEN,
    ));
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    out.extend_from_slice(&family_code(image.family).to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&payload);
    let checksum = Sha256::digest(&out[..]);
    out.extend_from_slice(&checksum);
    out
}

/// Parses and checks file content.
pub fn decode(bytes: &[u8]) -> Result<CardImage, StoreError> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(StoreError::NotACardFile);
    }
    if bytes.len() < HEADER_LEN {
        return Err(StoreError::Truncated);
    }
    let version = u16::from_be_bytes([bytes[8], bytes[9]]);
    if version != FORMAT_VERSION {
        return Err(StoreError::UnsupportedVersion(version));
    }
    let payload_len = u32::from_be_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]) as usize;
    if payload_len > MAX_PAYLOAD || bytes.len() != HEADER_LEN + payload_len + CHECKSUM_LEN {
        return Err(StoreError::Truncated);
    }
    let (body, checksum) = bytes.split_at(HEADER_LEN + payload_len);
    if Sha256::digest(body).as_slice() != checksum {
        return Err(StoreError::ChecksumMismatch);
    }
    let code = u16::from_be_bytes([bytes[10], bytes[11]]);
    let family = family_from_code(code)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown card family code {code}")))?;
    let mut image = decode_payload(&body[HEADER_LEN..])?;
    image.family = family;
    validate(&image)?;
    Ok(image)
}

/// The family lives in the header's formerly reserved (always 0) field, so every card
/// file written before families existed loads as the v2.x card it was, and a v2.x
/// card file is byte for byte what it used to be.
fn family_code(family: CardFamily) -> u16 {
    match family {
        CardFamily::V2x => 0,
        CardFamily::V10 => 1,
        CardFamily::V1x => 2,
    }
}

fn family_from_code(code: u16) -> Option<CardFamily> {
    match code {
        0 => Some(CardFamily::V2x),
        1 => Some(CardFamily::V10),
        2 => Some(CardFamily::V1x),
        _ => None,
    }
}

/// Checks the invariants the card runtime relies on.
pub fn validate(image: &CardImage) -> Result<(), StoreError> {
    let corrupt = |why: String| Err(StoreError::Corrupt(why));
    for (i, file) in image.files.iter().enumerate() {
        if file.path.first() != Some(&0x3F00) {
            return corrupt(format!("file {i} does not start at the MF"));
        }
        if image.files[..i].iter().any(|f| f.path == file.path) {
            return corrupt(format!("file {:04X?} appears twice", file.path));
        }
    }
    for (i, key) in image.keys.iter().enumerate() {
        if image.family == CardFamily::V10 && key.algorithm != KeyAlgorithm::Rsa2048 {
            return corrupt(format!(
                "key {i}: an AKIS v1.0 card holds RSA-2048 keys only"
            ));
        }
        if !(1..=8).contains(&key.key_ref) {
            return corrupt(format!("key {i} has reference {}", key.key_ref));
        }
        if image.keys[..i].iter().any(|k| k.key_ref == key.key_ref) {
            return corrupt(format!("key reference {} appears twice", key.key_ref));
        }
    }
    for pin in &image.pins {
        if pin.tries_left > pin.max_tries || pin.max_tries == 0 || pin.max_tries > 15 {
            return corrupt(format!(
                "retry counter of reference {:02X} is out of range",
                pin.reference
            ));
        }
        if pin.value.len() != pin.length {
            return corrupt(format!(
                "value of reference {:02X} has the wrong length",
                pin.reference
            ));
        }
    }
    Ok(())
}

fn algorithm_code(algorithm: KeyAlgorithm) -> u8 {
    match algorithm {
        KeyAlgorithm::Rsa2048 => 1,
        KeyAlgorithm::Rsa3072 => 2,
        KeyAlgorithm::P256 => 3,
        KeyAlgorithm::P384 => 4,
    }
}

fn algorithm_from_code(code: u8) -> Option<KeyAlgorithm> {
    Some(match code {
        1 => KeyAlgorithm::Rsa2048,
        2 => KeyAlgorithm::Rsa3072,
        3 => KeyAlgorithm::P256,
        4 => KeyAlgorithm::P384,
        _ => return None,
    })
}

/// Payload: serial, files, keys, PINs; every byte string is `u32 length ‖ bytes`,
/// every list `u32 count ‖ items`, options `u8 0|1 ‖ value`.
fn encode_payload(image: &CardImage) -> Zeroizing<Vec<u8>> {
    let mut w = Writer(Zeroizing::new(Vec::new()));
    w.bytes(&image.serial);
    w.u32(image.files.len() as u32);
    for file in &image.files {
        w.u32(file.path.len() as u32);
        for fid in &file.path {
            w.0.extend_from_slice(&fid.to_be_bytes());
        }
        w.option(file.df_name.as_deref());
        w.option(file.body.as_deref());
    }
    w.u32(image.keys.len() as u32);
    for key in &image.keys {
        w.u8(key.key_ref);
        w.u8(algorithm_code(key.algorithm));
        w.bytes(&key.pkcs8_der);
        w.u8(u8::from(key.user_consent));
    }
    w.u32(image.pins.len() as u32);
    for pin in &image.pins {
        w.u8(pin.reference);
        w.bytes(&pin.value);
        w.u32(pin.length as u32);
        w.u8(pin.max_tries);
        w.u8(pin.tries_left);
    }
    w.0
}

fn decode_payload(payload: &[u8]) -> Result<CardImage, StoreError> {
    let mut r = Reader(payload);
    let serial = r.bytes()?.to_vec();
    let mut files = Vec::new();
    for _ in 0..r.count()? {
        let depth = r.count()?;
        let mut path = Vec::new();
        for _ in 0..depth {
            let fid = r.take(2)?;
            path.push(u16::from_be_bytes([fid[0], fid[1]]));
        }
        let df_name = r.option()?.map(<[u8]>::to_vec);
        let body = r.option()?.map(<[u8]>::to_vec);
        files.push(FileNode {
            path,
            df_name,
            body,
        });
    }
    let mut keys = Vec::new();
    for _ in 0..r.count()? {
        let key_ref = r.u8()?;
        let code = r.u8()?;
        let algorithm = algorithm_from_code(code)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown key algorithm code {code}")))?;
        let pkcs8_der = Zeroizing::new(r.bytes()?.to_vec());
        let user_consent = r.flag()?;
        keys.push(CardKey {
            key_ref,
            algorithm,
            pkcs8_der,
            user_consent,
        });
    }
    let mut pins = Vec::new();
    for _ in 0..r.count()? {
        let reference = r.u8()?;
        let value = Zeroizing::new(r.bytes()?.to_vec());
        let length = r.u32()? as usize;
        let max_tries = r.u8()?;
        let tries_left = r.u8()?;
        pins.push(PinRecord {
            reference,
            value,
            length,
            max_tries,
            tries_left,
        });
    }
    if !r.0.is_empty() {
        return Err(StoreError::Corrupt(
            "trailing bytes after the payload".into(),
        ));
    }
    Ok(CardImage {
        // Set by `decode` from the header.
        family: CardFamily::default(),
        serial,
        files,
        keys,
        pins,
    })
}

struct Writer(Zeroizing<Vec<u8>>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn bytes(&mut self, v: &[u8]) {
        self.u32(v.len() as u32);
        self.0.extend_from_slice(v);
    }
    fn option(&mut self, v: Option<&[u8]>) {
        match v {
            Some(v) => {
                self.u8(1);
                self.bytes(v);
            }
            None => self.u8(0),
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        if n > self.0.len() {
            return Err(StoreError::Corrupt("payload ends inside a field".into()));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, StoreError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, StoreError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// A list length; bounded by the bytes left so a bad count cannot allocate much.
    fn count(&mut self) -> Result<usize, StoreError> {
        let n = self.u32()? as usize;
        if n > self.0.len() {
            return Err(StoreError::Corrupt(
                "list count larger than the payload".into(),
            ));
        }
        Ok(n)
    }
    fn bytes(&mut self) -> Result<&'a [u8], StoreError> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn flag(&mut self) -> Result<bool, StoreError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(StoreError::Corrupt(format!("flag byte {other}"))),
        }
    }
    fn option(&mut self) -> Result<Option<&'a [u8]>, StoreError> {
        Ok(if self.flag()? {
            Some(self.bytes()?)
        } else {
            None
        })
    }
}
