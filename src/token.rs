//! A bound token: what bind read from one card insertion, its objects, and the state
//! that changes (login, the last known PIN counters); `CK_TOKEN_INFO` made from it
//! without card I/O (pkcs11-spec.md §2.3).

use crate::card::{PinStatus, PublicKey, TokenData};
use crate::object::Object;
use cryptoki_sys::*;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use zeroize::Zeroizing;

/// Manufacturer of the library and its slots.
pub const MANUFACTURER: &str = "eimza-pkcs11";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    Public,
    User,
    So,
}

/// Token state that changes: login and the last known PIN counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Live {
    pub login: Login,
    pub user_status: PinStatus,
    pub so_status: Option<PinStatus>,
}

/// One bound card insertion.
pub struct Token {
    /// Unique per bind, for logs.
    pub serial: u64,
    /// `ReaderState::insertions` this token belongs to.
    pub insertions: u64,
    pub data: TokenData,
    pub objects: Vec<Object>,
    pub live: Mutex<Live>,
    /// Serialises `C_Login` on this token (`crate::pin::login`).
    pub(crate) login_gate: LoginGate,
}

/// Concurrent `C_Login` calls on one token: one VERIFY at a time, and what a caller
/// who waited needs to know about the attempt it waited for (pkcs11-spec.md §2.7).
#[derive(Default)]
pub(crate) struct LoginGate {
    /// Held across a login's VERIFY.
    pub state: Mutex<GateState>,
    /// Login attempts finished (read by a caller before it waits).
    pub attempts: AtomicU64,
    /// Callers waiting for `state`.
    pub waiting: AtomicUsize,
}

#[derive(Default)]
pub(crate) struct GateState {
    /// Attempts that failed while other callers were waiting: who logged in, with
    /// which value, and the answer. Kept only while such a caller is still waiting
    /// (a PIN is held no longer than the calls that need it).
    pub failed: Vec<FailedLogin>,
}

pub(crate) struct FailedLogin {
    pub attempt: u64,
    pub so: bool,
    pub pin: Zeroizing<Vec<u8>>,
    pub rv: CK_RV,
}

impl Token {
    pub fn new(serial: u64, insertions: u64, data: TokenData, objects: Vec<Object>) -> Token {
        let live = Live {
            login: Login::Public,
            user_status: data.user_pin.status,
            so_status: data.puk.as_ref().map(|p| p.status),
        };
        Token {
            serial,
            insertions,
            data,
            objects,
            live: Mutex::new(live),
            login_gate: LoginGate::default(),
        }
    }

    pub fn object(&self, handle: CK_OBJECT_HANDLE) -> Option<&Object> {
        self.objects.iter().find(|o| o.handle == handle)
    }

    pub fn login(&self) -> Login {
        self.live.lock().login
    }

    pub fn set_login(&self, login: Login) {
        self.live.lock().login = login;
    }

    /// The card no longer holds the user's login: neither does the token.
    pub fn logout_user(&self) {
        let mut live = self.live.lock();
        if live.login == Login::User {
            live.login = Login::Public;
        }
    }

    /// Private objects are visible only while the user is logged in.
    pub fn visible_object(&self, handle: CK_OBJECT_HANDLE) -> Result<&Object, CK_RV> {
        let object = self.object(handle).ok_or(CKR_OBJECT_HANDLE_INVALID)?;
        if object.private && self.login() != Login::User {
            return Err(CKR_OBJECT_HANDLE_INVALID);
        }
        Ok(object)
    }

    fn key_bits(&self, rsa: bool) -> Option<(usize, usize)> {
        let bits = self
            .data
            .keys
            .iter()
            .filter(|k| matches!(k.public, PublicKey::Rsa { .. }) == rsa)
            .map(|k| k.bits);
        let (min, max) = bits.fold((usize::MAX, 0), |(lo, hi), b| (lo.min(b), hi.max(b)));
        (max > 0).then_some((min, max))
    }

    pub fn rsa_bits(&self) -> Option<(usize, usize)> {
        self.key_bits(true)
    }

    pub fn ec_bits(&self) -> Option<(usize, usize)> {
        self.key_bits(false)
    }

    /// `CK_TOKEN_INFO` from the cached data and counters (no card I/O); `sessions` and
    /// `rw_sessions`: this application's sessions on the token.
    pub fn info(&self, sessions: usize, rw_sessions: usize) -> CK_TOKEN_INFO {
        let live = *self.live.lock();
        let data = &self.data;
        let mut flags =
            CKF_TOKEN_INITIALIZED | CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED | CKF_RNG;
        flags |= pin_flags(
            live.user_status,
            data.user_pin.max_tries,
            (
                CKF_USER_PIN_COUNT_LOW,
                CKF_USER_PIN_FINAL_TRY,
                CKF_USER_PIN_LOCKED,
            ),
        );
        if let (Some(puk), Some(so)) = (&data.puk, live.so_status) {
            flags |= pin_flags(
                so,
                puk.max_tries,
                (
                    CKF_SO_PIN_COUNT_LOW,
                    CKF_SO_PIN_FINAL_TRY,
                    CKF_SO_PIN_LOCKED,
                ),
            );
        }
        // The serial field is 16 characters: keep the (unique) tail of a longer serial.
        let serial = data
            .serial
            .get(data.serial.len().saturating_sub(16)..)
            .unwrap_or("");
        CK_TOKEN_INFO {
            label: pad(&data.label),
            manufacturerID: pad(&data.manufacturer),
            model: pad(&data.model),
            serialNumber: pad(serial),
            flags,
            ulMaxSessionCount: CK_EFFECTIVELY_INFINITE,
            ulSessionCount: sessions as CK_ULONG,
            ulMaxRwSessionCount: CK_EFFECTIVELY_INFINITE,
            ulRwSessionCount: rw_sessions as CK_ULONG,
            ulMaxPinLen: data.user_pin.max_len as CK_ULONG,
            ulMinPinLen: data.user_pin.min_len as CK_ULONG,
            ulTotalPublicMemory: CK_UNAVAILABLE_INFORMATION,
            ulFreePublicMemory: CK_UNAVAILABLE_INFORMATION,
            ulTotalPrivateMemory: CK_UNAVAILABLE_INFORMATION,
            ulFreePrivateMemory: CK_UNAVAILABLE_INFORMATION,
            hardwareVersion: CK_VERSION { major: 0, minor: 0 },
            firmwareVersion: CK_VERSION { major: 0, minor: 0 },
            utcTime: [b' '; 16],
        }
    }
}

/// CKF_USER_PIN_* / CKF_SO_PIN_* flags of one counter: (count_low, final_try, locked).
pub fn pin_flags(
    status: PinStatus,
    max_tries: u8,
    flags: (CK_FLAGS, CK_FLAGS, CK_FLAGS),
) -> CK_FLAGS {
    let (low, final_try, locked) = flags;
    match status {
        PinStatus::Blocked | PinStatus::TriesLeft(0) => locked,
        PinStatus::TriesLeft(1) => low | final_try,
        PinStatus::TriesLeft(n) if n < max_tries => low,
        _ => 0,
    }
}

/// A PKCS#11 text field: ASCII (others → `?`), space-padded, cut to size.
pub(crate) fn pad<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [b' '; N];
    let ascii = text.chars().map(|c| {
        if c.is_ascii() && !c.is_ascii_control() {
            c as u8
        } else {
            b'?'
        }
    });
    for (slot, byte) in out.iter_mut().zip(ascii) {
        *slot = byte;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_from_counters() {
        let f = (
            CKF_USER_PIN_COUNT_LOW,
            CKF_USER_PIN_FINAL_TRY,
            CKF_USER_PIN_LOCKED,
        );
        assert_eq!(pin_flags(PinStatus::TriesLeft(3), 3, f), 0);
        assert_eq!(pin_flags(PinStatus::Verified, 3, f), 0);
        assert_eq!(
            pin_flags(PinStatus::TriesLeft(2), 3, f),
            CKF_USER_PIN_COUNT_LOW
        );
        assert_eq!(
            pin_flags(PinStatus::TriesLeft(1), 3, f),
            CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY
        );
        assert_eq!(pin_flags(PinStatus::Blocked, 3, f), CKF_USER_PIN_LOCKED);
    }

    #[test]
    fn padding_is_ascii_and_spaces() {
        let p: [u8; 8] = pad("Kart ü");
        assert_eq!(&p, b"Kart ?  ");
        let long: [u8; 4] = pad("ABCDEFG");
        assert_eq!(&long, b"ABCD");
    }
}
