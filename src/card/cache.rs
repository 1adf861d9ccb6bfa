//! Persistent cache of a card's public PKCS#15 files (pkcs11-spec.md §3.2.1), so a
//! known card binds with SELECT + READ EF.TokenInfo + the PIN and PUK counters.
//!
//! One file per card serial under `$XDG_CACHE_HOME/eimza-pkcs11/` (else
//! `~/.cache/eimza-pkcs11/`); `EIMZA_PKCS11_CACHE=0` turns it off. The entry holds the
//! ATR, the exact EF.TokenInfo bytes and the files bind read (directory files,
//! certificates, public keys: public data only). It is served only when the card's
//! ATR and EF.TokenInfo bytes are identical to the stored ones **and** TokenInfo has a
//! `lastUpdate` (which the card changes whenever its contents change); a card without
//! `lastUpdate` is never cached. Files are written atomically with mode 0600; a
//! corrupt, foreign or oversized file is ignored.
//!
//! Trust: the entry is read inside the host application (the browser shows the
//! certificates it holds), so it is used only when the folder and the file belong to
//! the user the module runs as and nobody else can write them (no group or other
//! write bit, no symbolic link). Otherwise another local user could plant the
//! certificates shown for the card. Where ownership cannot be checked (no Unix) there
//! is no cache.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

const MAGIC: &[u8; 8] = b"EIMZAP11";
const FORMAT_VERSION: u16 = 1;
/// No genuine entry comes near this (a card holds a few KB of public files).
const MAX_ENTRY_BYTES: u64 = 1 << 20;
/// Serial numbers longer than this are not used as file names.
const MAX_SERIAL_BYTES: usize = 32;

/// Key of one cached file: its path from the MF (without `3F00`) and the offset read.
pub type FileKey = (Vec<u8>, usize);

/// Where cache entries live (the folder comes from the `Config`), and whose they must
/// be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindCache {
    dir: PathBuf,
    /// The user the folder and the entries must belong to; `None`: unknown, nothing is
    /// trusted.
    owner: Option<u32>,
}

/// What a cold bind read, to be stored; or what a stored entry offers. Public, with
/// [`encode`] and [`decode`], for the fuzzer (`fuzz/fuzz_targets/bind_cache.rs`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub atr: Vec<u8>,
    pub token_info: Vec<u8>,
    pub files: HashMap<FileKey, Vec<u8>>,
}

impl BindCache {
    /// A cache in `dir` (created on first write) trusted only when owned by `owner`
    /// (the effective user id of the process).
    pub fn new(dir: impl Into<PathBuf>, owner: Option<u32>) -> BindCache {
        BindCache {
            dir: dir.into(),
            owner,
        }
    }

    /// The folder exists, belongs to the owner and nobody else can write it.
    fn trusted_dir(&self) -> bool {
        trusted(&self.dir, self.owner, Kind::Dir)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry file of a card serial; `None` for a serial unfit as a key.
    pub fn entry_path(&self, serial: &[u8]) -> Option<PathBuf> {
        if serial.is_empty() || serial.len() > MAX_SERIAL_BYTES {
            return None;
        }
        let hex: String = serial.iter().map(|b| format!("{b:02X}")).collect();
        Some(self.dir.join(format!("card-{hex}.bin")))
    }

    /// The stored entry for this card if it may be served: same ATR, same EF.TokenInfo
    /// bytes. Anything unreadable or malformed is treated as absent.
    pub(crate) fn load(&self, serial: &[u8], atr: &[u8], token_info: &[u8]) -> Option<Entry> {
        let path = self.entry_path(serial)?;
        if !self.trusted_dir() || !trusted(&path, self.owner, Kind::File) {
            if path.exists() {
                crate::log_at!(
                    crate::log::Level::Warn,
                    "bind cache: {} is not the user's alone: ignored",
                    path.display()
                );
            }
            return None;
        }
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if meta.len() > MAX_ENTRY_BYTES {
            return None;
        }
        let bytes = std::fs::read(&path).ok()?;
        let entry = decode(&bytes)?;
        (entry.atr == atr && entry.token_info == token_info).then_some(entry)
    }

    /// Store an entry atomically (temporary file, rename): readers see the old entry or
    /// the new one, never half of one. No fsync: after a crash a torn entry fails its
    /// checksum and is ignored, which costs one cold bind, not a stale certificate.
    /// Failures are returned for the log; the caller carries on without a cache.
    pub(crate) fn store(&self, serial: &[u8], entry: &Entry) -> std::io::Result<()> {
        let path = self
            .entry_path(serial)
            .ok_or_else(|| std::io::Error::other("serial unfit for a cache key"))?;
        create_private_dir(&self.dir)?;
        if !self.trusted_dir() {
            return Err(std::io::Error::other(
                "cache folder not the user's alone: not written",
            ));
        }
        static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);
        let temp = self.dir.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            NEXT_TEMP.fetch_add(1, Ordering::Relaxed)
        ));
        let result = (|| {
            let mut file = private_file(&temp)?;
            file.write_all(&encode(entry))?;
            drop(file);
            std::fs::rename(&temp, &path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        result
    }

    /// Drop the entry of a card.
    pub fn remove(&self, serial: &[u8]) {
        if let Some(path) = self.entry_path(serial) {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
}

/// `path` is a folder or regular file (not a link) of `owner` that neither its group
/// nor others may write.
#[cfg(unix)]
fn trusted(path: &Path, owner: Option<u32>, kind: Kind) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Some(owner), Ok(meta)) = (owner, std::fs::symlink_metadata(path)) else {
        return false;
    };
    let right_kind = match kind {
        Kind::Dir => meta.is_dir(),
        Kind::File => meta.is_file(),
    };
    right_kind && owner_only(meta.uid(), meta.mode(), owner)
}

/// Without Unix ownership and modes nothing can be checked: nothing is trusted.
#[cfg(not(unix))]
fn trusted(_path: &Path, _owner: Option<u32>, _kind: Kind) -> bool {
    false
}

/// Owned by `owner`, no write permission for group or others.
#[cfg_attr(not(unix), allow(dead_code))]
fn owner_only(uid: u32, mode: u32, owner: u32) -> bool {
    uid == owner && mode & 0o022 == 0
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

// ---- file format: MAGIC, version u16, then byte strings `u32 len ‖ bytes`:
// ATR, TokenInfo, file count (u32), per file path ‖ offset (u32) ‖ body; then the
// SHA-256 of everything before it. Big-endian throughout.

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// The file content for `entry`.
pub fn encode(entry: &Entry) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    put_bytes(&mut out, &entry.atr);
    put_bytes(&mut out, &entry.token_info);
    // Sorted, so equal entries give equal files.
    let mut files: Vec<_> = entry.files.iter().collect();
    files.sort();
    out.extend_from_slice(&(files.len() as u32).to_be_bytes());
    for ((path, offset), body) in files {
        put_bytes(&mut out, path);
        out.extend_from_slice(&(*offset as u32).to_be_bytes());
        put_bytes(&mut out, body);
    }
    let digest = Sha256::digest(&out);
    out.extend_from_slice(&digest);
    out
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u32()?).ok()?;
        self.take(n)
    }
}

/// A stored entry, if `bytes` is one (any damage: `None`). Runs inside the host
/// application on a file from disk: fuzzed (`fuzz/fuzz_targets/bind_cache.rs`).
pub fn decode(bytes: &[u8]) -> Option<Entry> {
    let body_len = bytes.len().checked_sub(32)?;
    let (body, digest) = bytes.split_at(body_len);
    if Sha256::digest(body).as_slice() != digest {
        return None;
    }
    let mut c = Cursor(body);
    if c.take(MAGIC.len())? != MAGIC {
        return None;
    }
    if u16::from_be_bytes(c.take(2)?.try_into().ok()?) != FORMAT_VERSION {
        return None;
    }
    let atr = c.bytes()?.to_vec();
    let token_info = c.bytes()?.to_vec();
    let count = c.u32()?;
    let mut files = HashMap::new();
    for _ in 0..count {
        let path = c.bytes()?.to_vec();
        let offset = usize::try_from(c.u32()?).ok()?;
        let data = c.bytes()?.to_vec();
        files.insert((path, offset), data);
    }
    if !c.0.is_empty() {
        return None;
    }
    Some(Entry {
        atr,
        token_info,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Entry {
        let mut files = HashMap::new();
        files.insert((vec![0x3D, 0x00, 0x50, 0x31], 0), vec![0xA8, 0x00]);
        files.insert((vec![0x3D, 0x00, 0x43, 0x05], 0), vec![0x30; 700]);
        Entry {
            atr: vec![0x3B, 0x9F],
            token_info: vec![0x30, 0x03, 0x02, 0x01, 0x00],
            files,
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("eimza-cache-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn entries_round_trip_and_any_damage_is_refused() {
        let entry = sample();
        let bytes = encode(&entry);
        assert_eq!(decode(&bytes), Some(entry));
        for i in [0, 9, 12, bytes.len() / 2, bytes.len() - 1] {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            assert_eq!(decode(&bad), None, "flipped byte {i}");
        }
        for n in [0, 10, 31, 32, bytes.len() - 1] {
            assert_eq!(decode(&bytes[..n]), None, "truncated to {n}");
        }
    }

    #[cfg(unix)]
    fn me() -> Option<u32> {
        crate::ffi::effective_uid()
    }

    // The bind cache exists only where its trust rule can be checked (Unix).
    #[cfg(unix)]
    #[test]
    fn store_is_private_and_load_needs_the_same_atr_and_token_info() {
        let dir = temp_dir("store");
        let cache = BindCache::new(dir.join("eimza-pkcs11"), me());
        let entry = sample();
        let serial = [0x01, 0x02];
        cache.store(&serial, &entry).expect("store");
        let path = cache.entry_path(&serial).expect("path");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let dir_mode = std::fs::metadata(cache.dir()).expect("meta");
            assert_eq!(dir_mode.permissions().mode() & 0o777, 0o700);
        }
        assert_eq!(
            cache.load(&serial, &entry.atr, &entry.token_info),
            Some(entry.clone())
        );
        let mut other_info = entry.token_info.clone();
        other_info[4] = 1;
        assert_eq!(cache.load(&serial, &entry.atr, &other_info), None);
        assert_eq!(cache.load(&serial, &[0x3B], &entry.token_info), None);
        assert_eq!(cache.load(&[0x09], &entry.atr, &entry.token_info), None);
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(cache.dir())
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("card-0102.bin")]);
        // Garbage in the entry file is ignored, not an error.
        std::fs::write(&path, b"not a cache entry").expect("write");
        assert_eq!(cache.load(&serial, &entry.atr, &entry.token_info), None);
        cache.remove(&serial);
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Windows: no ownership or modes to check, so nothing is written or served.
    #[cfg(not(unix))]
    #[test]
    fn without_unix_ownership_nothing_is_stored_or_served() {
        let dir = temp_dir("no-unix");
        let cache = BindCache::new(dir.join("eimza-pkcs11"), Some(0));
        let entry = sample();
        assert!(cache.store(&[0x01, 0x02], &entry).is_err());
        assert_eq!(
            cache.load(&[0x01, 0x02], &entry.atr, &entry.token_info),
            None
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn ownership_and_write_bits_decide() {
        let me = 1000;
        assert!(owner_only(me, 0o700, me));
        assert!(owner_only(me, 0o644, me), "readable by others is fine");
        assert!(owner_only(me, 0o100600, me), "file type bits do not matter");
        assert!(!owner_only(me, 0o720, me), "group-writable");
        assert!(!owner_only(me, 0o702, me), "writable by others");
        assert!(!owner_only(0, 0o700, me), "another user's");
    }

    #[cfg(unix)]
    #[test]
    fn entries_another_user_could_have_written_are_ignored() {
        use std::os::unix::fs::PermissionsExt;
        let chmod = |p: &Path, mode: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod")
        };
        let dir = temp_dir("trust");
        let folder = dir.join("eimza-pkcs11");
        let cache = BindCache::new(&folder, me());
        let entry = sample();
        let serial = [0x0A, 0x0B];
        cache.store(&serial, &entry).expect("store");
        let path = cache.entry_path(&serial).expect("path");
        let load = |c: &BindCache| c.load(&serial, &entry.atr, &entry.token_info);
        assert_eq!(load(&cache), Some(entry.clone()), "the user's own entry");

        // A folder others may write: anyone could have put the file there.
        for mode in [0o777, 0o770, 0o1777] {
            chmod(&folder, mode);
            assert_eq!(load(&cache), None, "folder mode {mode:o}");
            assert!(cache.store(&serial, &entry).is_err(), "not written either");
        }
        chmod(&folder, 0o700);
        // A file others may write.
        for mode in [0o666, 0o620, 0o602] {
            chmod(&path, mode);
            assert_eq!(load(&cache), None, "file mode {mode:o}");
        }
        chmod(&path, 0o644);
        assert_eq!(
            load(&cache),
            Some(entry.clone()),
            "read-only for others is fine"
        );
        // Another user's folder and file (the owner the cache expects differs).
        let someone_else = BindCache::new(&folder, me().map(|uid| uid.wrapping_add(1)));
        assert_eq!(load(&someone_else), None);
        // Nobody known: nothing trusted.
        assert_eq!(load(&BindCache::new(&folder, None)), None);
        // A link to an entry, even the user's own, is not an entry.
        let real = dir.join("elsewhere.bin");
        std::fs::rename(&path, &real).expect("move");
        std::os::unix::fs::symlink(&real, &path).expect("symlink");
        assert_eq!(load(&cache), None, "symbolic link");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn unfit_serials_have_no_entry() {
        let cache = BindCache::new("/tmp/x", None);
        assert_eq!(cache.entry_path(&[]), None);
        assert_eq!(cache.entry_path(&[0u8; 33]), None);
        assert!(cache.entry_path(&[0xAB]).is_some());
    }
}
