//! Sessions and their active operations (object search, signature), and the signing
//! flow: length answers without card I/O, hashing in the module, one card
//! transaction per signature.

use crate::card::{CardError, SignAlgorithm};
use crate::mechanism::{card_input, sign_kind, Hasher, PssParams, SignKind};
use crate::object::{KeyKind, SigningKey};
use crate::operation::{Operation, Operations};
use crate::state::{
    card_cleared_pin_status, card_rv, check_pin, logout_user, status_after, Login, Module, Slot,
    Token,
};
use cryptoki_sys::*;
use parking_lot::Mutex;
use std::sync::Arc;
use zeroize::Zeroizing;

struct FindState {
    hits: Vec<CK_OBJECT_HANDLE>,
    next: usize,
}

struct SignState {
    kind: SignKind,
    key: SigningKey,
    hasher: Option<Hasher>,
    /// C_SignUpdate was called: only C_SignUpdate/C_SignFinal may follow.
    multipart: bool,
    /// PIN from C_Login(CKU_CONTEXT_SPECIFIC), sent right before the signature.
    context_pin: Option<Zeroizing<Vec<u8>>>,
}

pub struct Session {
    pub handle: CK_SESSION_HANDLE,
    pub slot: Arc<Slot>,
    pub token: Arc<Token>,
    pub rw: bool,
    find: Mutex<Option<FindState>>,
    sign: Mutex<Option<SignState>>,
    /// Digest or verification, computed in the module (src/operation.rs).
    pub(crate) operations: Operations,
}

/// What a C_Sign/C_SignFinal call produced.
#[derive(Debug, PartialEq, Eq)]
pub enum SignOutput {
    /// Output buffer was NULL: the signature length; the operation goes on.
    Length(usize),
    /// Output buffer too small: the needed length; the operation goes on.
    TooSmall(usize),
    Signature(Vec<u8>),
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

    pub fn start_find(&self, hits: Vec<CK_OBJECT_HANDLE>) -> Result<(), CK_RV> {
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

    pub fn find_final(&self) -> Result<(), CK_RV> {
        self.find
            .lock()
            .take()
            .map(|_| ())
            .ok_or(CKR_OPERATION_NOT_INITIALIZED)
    }
}

/// Signature as the application expects it: RSA exactly k bytes (a card may drop
/// leading zero bytes), ECDSA exactly 2 × field size.
fn normalise_signature(key: &SigningKey, mut sig: Vec<u8>) -> Result<Vec<u8>, CK_RV> {
    let want = key.signature_len;
    if sig.len() == want {
        return Ok(sig);
    }
    if key.kind == KeyKind::Rsa && !sig.is_empty() && sig.len() < want {
        let mut padded = vec![0u8; want - sig.len()];
        padded.append(&mut sig);
        return Ok(padded);
    }
    Err(CKR_DEVICE_ERROR)
}

impl Module {
    pub fn sign_init(
        &self,
        handle: CK_SESSION_HANDLE,
        mechanism: CK_MECHANISM_TYPE,
        has_params: bool,
        pss: Option<PssParams>,
        key_handle: CK_OBJECT_HANDLE,
    ) -> Result<(), CK_RV> {
        let session = self.session(handle)?;
        let token = &session.token;
        let mut sign = session.sign.lock();
        // One cryptographic operation per session (src/operation.rs).
        if sign.is_some() || session.operations.is_active() {
            return Err(CKR_OPERATION_ACTIVE);
        }
        let object = token.object(key_handle).ok_or(CKR_KEY_HANDLE_INVALID)?;
        let key = match (&object.signing, object.class) {
            (Some(key), _) => key.clone(),
            (None, CKO_PUBLIC_KEY | CKO_PRIVATE_KEY) => return Err(CKR_KEY_FUNCTION_NOT_PERMITTED),
            (None, _) => return Err(CKR_KEY_HANDLE_INVALID),
        };
        if token.login() != Login::User {
            return Err(CKR_USER_NOT_LOGGED_IN);
        }
        let kind = sign_kind(mechanism, has_params, pss)?;
        if kind.key_kind() != key.kind {
            return Err(CKR_KEY_TYPE_INCONSISTENT);
        }
        *sign = Some(SignState {
            kind,
            hasher: kind.module_hash().map(Hasher::new),
            key,
            multipart: false,
            context_pin: None,
        });
        Ok(())
    }

    /// C_Sign. `capacity` None: the application passed a NULL buffer.
    pub fn sign(
        &self,
        handle: CK_SESSION_HANDLE,
        data: &[u8],
        capacity: Option<usize>,
    ) -> Result<SignOutput, CK_RV> {
        let session = self.session(handle)?;
        let mut guard = session.sign.lock();
        let state = guard.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        if state.multipart {
            return Err(CKR_OPERATION_ACTIVE);
        }
        let len = state.key.signature_len;
        match capacity {
            None => return Ok(SignOutput::Length(len)),
            Some(c) if c < len => return Ok(SignOutput::TooSmall(len)),
            _ => {}
        }
        // From here the call ends the operation, whatever happens.
        let Some(state) = guard.take() else {
            return Err(CKR_OPERATION_NOT_INITIALIZED);
        };
        drop(guard);
        let input = card_input(state.kind, &state.key, data, None)?;
        self.sign_on_card(&session, state, &input)
    }

    pub fn sign_update(&self, handle: CK_SESSION_HANDLE, data: &[u8]) -> Result<(), CK_RV> {
        let session = self.session(handle)?;
        let mut guard = session.sign.lock();
        let state = guard.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        match state.hasher.as_mut() {
            Some(hasher) => {
                hasher.update(data);
                state.multipart = true;
                Ok(())
            }
            None => {
                // Raw mechanisms are single-part only; the failed call ends the operation.
                *guard = None;
                Err(CKR_FUNCTION_NOT_SUPPORTED)
            }
        }
    }

    pub fn sign_final(
        &self,
        handle: CK_SESSION_HANDLE,
        capacity: Option<usize>,
    ) -> Result<SignOutput, CK_RV> {
        let session = self.session(handle)?;
        let mut guard = session.sign.lock();
        let state = guard.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        if state.hasher.is_none() {
            *guard = None;
            return Err(CKR_FUNCTION_NOT_SUPPORTED);
        }
        let len = state.key.signature_len;
        match capacity {
            None => return Ok(SignOutput::Length(len)),
            Some(c) if c < len => return Ok(SignOutput::TooSmall(len)),
            _ => {}
        }
        let Some(mut state) = guard.take() else {
            return Err(CKR_OPERATION_NOT_INITIALIZED);
        };
        drop(guard);
        let hash = state.hasher.take().map(Hasher::finish);
        let input = card_input(state.kind, &state.key, &[], hash)?;
        self.sign_on_card(&session, state, &input)
    }

    fn sign_on_card(
        &self,
        session: &Session,
        state: SignState,
        input: &[u8],
    ) -> Result<SignOutput, CK_RV> {
        let token = &session.token;
        if token.login() != Login::User {
            return Err(CKR_USER_NOT_LOGGED_IN);
        }
        let user_pin = &token.data.user_pin;
        let pin_first = match (&state.context_pin, state.key.always_authenticate) {
            (Some(pin), true) => Some((user_pin, pin.as_slice())),
            (None, true) => return Err(CKR_USER_NOT_LOGGED_IN),
            (_, false) => None,
        };
        let algorithm: SignAlgorithm = state.kind.card_algorithm();
        let result = session.slot.with_card(token, |card| {
            card.sign(state.key.key_ref, algorithm, input, pin_first)
        });
        if pin_first.is_some() {
            let outcome: Result<(), CardError> = match &result {
                Ok(_) => Ok(()),
                Err(e) => Err(e.clone()),
            };
            // Only PIN answers change the counter; other failures leave it as it was.
            if matches!(
                outcome,
                Ok(()) | Err(CardError::PinIncorrect { .. } | CardError::PinBlocked)
            ) {
                let mut live = token.live.lock();
                live.user_status = status_after(user_pin, live.user_status, &outcome);
            }
            if outcome.is_err_and(|e| card_cleared_pin_status(&e, false)) {
                logout_user(token);
            }
        }
        let signature = result.map_err(|e| card_rv(&e))?;
        normalise_signature(&state.key, signature).map(SignOutput::Signature)
    }

    /// C_Login(CKU_CONTEXT_SPECIFIC): the PIN for the next signature of an
    /// always-authenticate key; for other keys an ordinary PIN verification.
    pub(crate) fn context_login(
        &self,
        session: &Session,
        pin: Zeroizing<Vec<u8>>,
    ) -> Result<(), CK_RV> {
        let token = &session.token;
        let user_pin = &token.data.user_pin;
        let mut guard = session.sign.lock();
        let state = guard.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        if token.login() != Login::User {
            return Err(CKR_USER_NOT_LOGGED_IN);
        }
        check_pin(user_pin, &pin)?;
        if state.key.always_authenticate {
            state.context_pin = Some(pin);
            return Ok(());
        }
        drop(guard);
        let result = session
            .slot
            .with_card(token, |card| card.verify(user_pin, &pin));
        {
            let mut live = token.live.lock();
            live.user_status = status_after(user_pin, live.user_status, &result);
        }
        if result
            .as_ref()
            .is_err_and(|e| card_cleared_pin_status(e, false))
        {
            logout_user(token);
        }
        result.map_err(|e| card_rv(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_rsa_signatures_are_left_padded() {
        let key = SigningKey {
            key_ref: 1,
            kind: KeyKind::Rsa,
            bits: 2048,
            signature_len: 256,
            always_authenticate: false,
            curve: None,
        };
        let sig = normalise_signature(&key, vec![5; 255]).unwrap();
        assert_eq!(sig.len(), 256);
        assert_eq!(sig[0], 0);
        assert_eq!(
            normalise_signature(&key, vec![5; 257]),
            Err(CKR_DEVICE_ERROR)
        );
        let ec = SigningKey {
            kind: KeyKind::Ec,
            signature_len: 64,
            ..key
        };
        assert_eq!(normalise_signature(&ec, vec![5; 63]), Err(CKR_DEVICE_ERROR));
        assert_eq!(normalise_signature(&ec, vec![5; 64]).unwrap().len(), 64);
    }
}
