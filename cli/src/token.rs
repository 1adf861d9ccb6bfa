//! Loading a PKCS#11 module and reading what the tool needs from its tokens.

use crate::certinfo::CertSummary;
use crate::i18n::Msg;
use crate::{Exit, Failure};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::object::{Attribute, AttributeType, CertificateType, ObjectClass};
use cryptoki::session::Session;
use cryptoki::slot::{Slot, TokenInfo};
use std::path::{Path, PathBuf};

#[cfg(not(windows))]
pub const MODULE_FILE: &str = "libeimza_pkcs11.so";
#[cfg(windows)]
pub const MODULE_FILE: &str = "eimza_pkcs11.dll";

/// Windows: the zip and the MSI put eimza.exe and eimza_pkcs11.dll in one folder (as
/// does a build: target\<profile>\), so the module is looked for beside the tool only.
#[cfg(windows)]
pub fn default_module_candidates() -> Vec<PathBuf> {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(MODULE_FILE)))
        .into_iter()
        .collect()
}

/// Where an installed eimza module is looked for, in order.
#[cfg(not(windows))]
pub fn default_module_candidates() -> Vec<PathBuf> {
    let multiarch = debian_multiarch();
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
    {
        // Installed: <prefix>/bin/eimza beside <prefix>/lib/<multiarch>/pkcs11/
        // (the Debian package's layout). parent() rather than "..", so that messages
        // show /usr/lib/..., not /usr/bin/../lib/...
        if let Some(prefix) = dir.parent() {
            candidates.push(
                prefix
                    .join("lib")
                    .join(&multiarch)
                    .join("pkcs11")
                    .join(MODULE_FILE),
            );
            candidates.push(prefix.join("lib/pkcs11").join(MODULE_FILE));
        }
        // Built: target/<profile>/eimza beside target/<profile>/libeimza_pkcs11.so.
        candidates.push(dir.join(MODULE_FILE));
    }
    candidates.push(
        Path::new("/usr/lib")
            .join(&multiarch)
            .join("pkcs11")
            .join(MODULE_FILE),
    );
    candidates.push(Path::new("/usr/lib/pkcs11").join(MODULE_FILE));
    candidates.dedup();
    candidates
}

/// The Debian multiarch tuple of the architecture this tool was built for
/// (`dpkg-architecture -qDEB_HOST_MULTIARCH`): the folder under /usr/lib where the
/// package installs the module. Not simply "<arch>-linux-gnu": i386 and the ARM and
/// little-endian POWER ports are spelled differently.
#[cfg(not(windows))]
pub fn debian_multiarch() -> String {
    let arch = std::env::consts::ARCH;
    match arch {
        "x86" => "i386-linux-gnu".to_string(),
        "arm" if cfg!(target_abi = "eabihf") => "arm-linux-gnueabihf".to_string(),
        "arm" => "arm-linux-gnueabi".to_string(),
        "powerpc64" if cfg!(target_endian = "little") => "powerpc64le-linux-gnu".to_string(),
        "mips64" if cfg!(target_endian = "little") => "mips64el-linux-gnuabi64".to_string(),
        _ => format!("{arch}-linux-gnu"),
    }
}

pub struct Module {
    pub ctx: Pkcs11,
    pub path: PathBuf,
}

impl Module {
    pub fn load(explicit: Option<&Path>) -> Result<Module, Failure> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => {
                let candidates = default_module_candidates();
                match candidates.iter().find(|p| p.is_file()) {
                    Some(p) => p.clone(),
                    None => {
                        let tried = candidates.iter().map(|p| p.display().to_string()).collect();
                        return Err(Failure::new(Exit::NoToken, Msg::ModuleNotFound(tried)));
                    }
                }
            }
        };
        let shown = path.display().to_string();
        let ctx = Pkcs11::new(&path).map_err(|e| {
            Failure::new(
                Exit::NoToken,
                Msg::ModuleLoadFailed(shown.clone(), e.to_string()),
            )
        })?;
        ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .map_err(|e| Failure::new(Exit::Other, Msg::ModuleLoadFailed(shown, e.to_string())))?;
        Ok(Module { ctx, path })
    }

    /// The slot to work on: `--slot`, else the first slot whose token answers.
    pub fn choose_token(&self, wanted: Option<u64>) -> Result<(Slot, TokenInfo), Failure> {
        let slots = self.ctx.get_all_slots().map_err(failure)?;
        if slots.is_empty() {
            return Err(Failure::new(Exit::NoToken, Msg::NoSlots));
        }
        if let Some(id) = wanted {
            let slot = slots
                .into_iter()
                .find(|s| s.id() == id)
                .ok_or_else(|| Failure::new(Exit::NoToken, Msg::SlotNotFound(id)))?;
            let info = self.token_info(slot)?;
            return Ok((slot, info));
        }
        let mut last_error = Failure::new(Exit::NoToken, Msg::NoCard);
        for slot in self.ctx.get_slots_with_token().map_err(failure)? {
            match self.token_info(slot) {
                Ok(info) => return Ok((slot, info)),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    pub fn token_info(&self, slot: Slot) -> Result<TokenInfo, Failure> {
        self.ctx.get_token_info(slot).map_err(failure)
    }
}

/// The PKCS#11 return value inside a cryptoki error, if it is one.
pub fn rv(e: &Error) -> Option<RvError> {
    match e {
        Error::Pkcs11(rv, _) => Some(*rv),
        _ => None,
    }
}

/// The general mapping of module errors to exit codes and messages; commands handle
/// PIN errors themselves first, with more to say.
pub fn failure(e: Error) -> Failure {
    match rv(&e) {
        Some(RvError::TokenNotPresent | RvError::DeviceRemoved | RvError::SlotIdInvalid) => {
            Failure::new(Exit::NoToken, Msg::NoCard)
        }
        Some(RvError::TokenNotRecognized) => {
            Failure::new(Exit::NoToken, Msg::ModuleError(e.to_string()))
        }
        Some(RvError::PinIncorrect) => {
            Failure::new(Exit::WrongPin, Msg::ModuleError(e.to_string()))
        }
        Some(RvError::PinLocked) => Failure::new(Exit::Blocked, Msg::ModuleError(e.to_string())),
        _ => Failure::new(Exit::Other, Msg::ModuleError(e.to_string())),
    }
}

/// One X.509 certificate object of a token.
pub struct CertObject {
    pub label: String,
    pub id: Vec<u8>,
    pub summary: Result<CertSummary, String>,
}

pub fn read_certificates(session: &Session) -> Result<Vec<CertObject>, Failure> {
    let handles = session
        .find_objects(&[
            Attribute::Class(ObjectClass::CERTIFICATE),
            Attribute::CertificateType(CertificateType::X_509),
        ])
        .map_err(failure)?;
    let mut certs = Vec::new();
    for handle in handles {
        let attrs = session
            .get_attributes(
                handle,
                &[
                    AttributeType::Label,
                    AttributeType::Id,
                    AttributeType::Value,
                ],
            )
            .map_err(failure)?;
        let (mut label, mut id, mut value) = (String::new(), Vec::new(), None);
        for attr in attrs {
            match attr {
                Attribute::Label(l) => label = String::from_utf8_lossy(&l).trim_end().to_string(),
                Attribute::Id(i) => id = i,
                Attribute::Value(v) => value = Some(v),
                _ => {}
            }
        }
        let summary = match value {
            Some(v) => CertSummary::parse(&v).map_err(|e| e.to_string()),
            None => Err("no CKA_VALUE".to_string()),
        };
        certs.push(CertObject { label, id, summary });
    }
    Ok(certs)
}

/// Text of a space-padded PKCS#11 string field, or of a serial.
pub fn trimmed(s: &str) -> String {
    s.trim_end_matches([' ', '\0']).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The folder the tool searches must be the one the Debian package installs into,
    /// which build-deb.sh takes from dpkg-architecture. Without dpkg-architecture the
    /// test fails (it is not skipped): scripts/deps.sh installs it (dpkg-dev).
    #[test]
    #[cfg(target_os = "linux")]
    fn multiarch_matches_dpkg_architecture() {
        let out = std::process::Command::new("dpkg-architecture")
            .arg("-qDEB_HOST_MULTIARCH")
            .output()
            .expect("dpkg-architecture (package dpkg-dev, installed by scripts/deps.sh)");
        assert!(out.status.success(), "dpkg-architecture: {out:?}");
        let from_dpkg = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(debian_multiarch(), from_dpkg);
        let expected = Path::new("/usr/lib")
            .join(from_dpkg)
            .join("pkcs11")
            .join(MODULE_FILE);
        assert!(default_module_candidates().contains(&expected));
    }

    #[test]
    fn candidates_have_no_parent_components() {
        for candidate in default_module_candidates() {
            assert!(
                !candidate
                    .components()
                    .any(|c| c == std::path::Component::ParentDir),
                "{}",
                candidate.display()
            );
        }
    }
}
