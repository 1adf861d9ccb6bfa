//! A session: its slot and token, whether it is read/write, and its active operations
//! (object search, signature, and the digest or verification the module computes:
//! `operation`). Login state is the token's, shared by all sessions of the application
//! (pkcs11-spec.md §2.4). The flows that work on a session are `sign`, `pin`,
//! `digest` and `verify`.

use crate::error::card_rv;
use crate::mechanism::{Hasher, SignKind};
use crate::object::SigningKey;
use crate::operation::{Operation, Operations};
use crate::slot::Slot;
use crate::token::{Login, Token};
use cryptoki_sys::*;
use parking_lot::Mutex;
use std::sync::Arc;
use zeroize::Zeroizing;

struct FindState {
    hits: Vec<CK_OBJECT_HANDLE>,
    next: usize,
}

/// A signature in progress (`C_SignInit` … `C_Sign`/`C_SignFinal`).
pub(crate) struct SignState {
    pub kind: SignKind,
    pub key: SigningKey,
    pub hasher: Option<Hasher>,
    /// C_SignUpdate was called: only C_SignUpdate/C_SignFinal may follow.
    pub multipart: bool,
    /// PIN from C_Login(CKU_CONTEXT_SPECIFIC), sent right before the signature.
    pub context_pin: Option<Zeroizing<Vec<u8>>>,
}

pub struct Session {
    pub handle: CK_SESSION_HANDLE,
    pub slot: Arc<Slot>,
    pub token: Arc<Token>,
    pub rw: bool,
    find: Mutex<Option<FindState>>,
    pub(crate) sign: Mutex<Option<SignState>>,
    /// Digest or verification, computed in the module (src/operation.rs).
    pub(crate) operations: Operations,
}

impl Session {
    pub fn new(handle: CK_SESSION_HANDLE, slot: Arc<Slot>, token: Arc<Token>, rw: bool) -> Session {
        Session {
            handle,
            slot,
            token,
            rw,
            find: Mutex::new(None),
            sign: Mutex::new(None),
            operations: Operations::default(),
        }
    }

    /// Start a digest or verification unless a cryptographic operation (signature
    /// included) is active: `CKR_OPERATION_ACTIVE` (lock order: signature, then these).
    pub(crate) fn start_operation(
        &self,
        make: impl FnOnce() -> Result<Operation, CK_RV>,
    ) -> Result<(), CK_RV> {
        let sign = self.sign.lock();
        if sign.is_some() {
            return Err(CKR_OPERATION_ACTIVE);
        }
        self.operations.start(make)
    }

    /// `CK_SESSION_INFO` (polled: no APDU, no card lock).
    pub fn info(&self) -> CK_SESSION_INFO {
        let state = match (self.rw, self.token.login()) {
            (false, Login::User) => CKS_RO_USER_FUNCTIONS,
            (false, _) => CKS_RO_PUBLIC_SESSION,
            (true, Login::Public) => CKS_RW_PUBLIC_SESSION,
            (true, Login::User) => CKS_RW_USER_FUNCTIONS,
            (true, Login::So) => CKS_RW_SO_FUNCTIONS,
        };
        let mut flags = CKF_SERIAL_SESSION;
        if self.rw {
            flags |= CKF_RW_SESSION;
        }
        CK_SESSION_INFO {
            slotID: self.slot.id,
            state,
            flags,
            ulDeviceError: 0,
        }
    }

    /// C_FindObjectsInit: the hits are computed now; one search per session.
    pub fn find_init(&self, template: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)]) -> Result<(), CK_RV> {
        let logged_in = self.token.login() == Login::User;
        let hits: Vec<CK_OBJECT_HANDLE> = self
            .token
            .objects
            .iter()
            .filter(|o| (!o.private || logged_in) && o.matches(template))
            .map(|o| o.handle)
            .collect();
        let mut find = self.find.lock();
        if find.is_some() {
            return Err(CKR_OPERATION_ACTIVE);
        }
        *find = Some(FindState { hits, next: 0 });
        Ok(())
    }

    pub fn find_next(&self, max: usize) -> Result<Vec<CK_OBJECT_HANDLE>, CK_RV> {
        let mut find = self.find.lock();
        let state = find.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        let end = state.hits.len().min(state.next.saturating_add(max));
        let out = state.hits[state.next..end].to_vec();
        state.next = end;
        Ok(out)
    }

    pub fn find_final(&self) -> Result<(), CK_RV> {
        self.find
            .lock()
            .take()
            .map(|_| ())
            .ok_or(CKR_OPERATION_NOT_INITIALIZED)
    }

    /// C_SessionCancel: end the named operations if active (the PIN kept for an
    /// always-authenticate signature is wiped with it).
    pub fn cancel(&self, find: bool, sign: bool) {
        if find {
            *self.find.lock() = None;
        }
        if sign {
            *self.sign.lock() = None;
        }
    }

    /// C_GenerateRandom: GET CHALLENGE from the card.
    pub fn random(&self, len: usize) -> Result<Zeroizing<Vec<u8>>, CK_RV> {
        if len == 0 {
            return Ok(Zeroizing::new(Vec::new()));
        }
        let bytes = self
            .slot
            .with_card(&self.token, |card| card.get_challenge(len))
            .map_err(|e| card_rv(&e))?;
        if bytes.len() != len {
            return Err(CKR_DEVICE_ERROR);
        }
        Ok(bytes)
    }
}
