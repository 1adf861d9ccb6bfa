//! The signing flow (pkcs11-spec.md §2.6): length answers without card I/O, hashing in
//! the module, one card transaction per signature. A signing call that fails ends the
//! operation, except `CKR_BUFFER_TOO_SMALL` and the length query ([`end_on_failure`]),
//! as PKCS#11 says.

use crate::card::{CardError, SignAlgorithm};
use crate::error::card_rv;
use crate::mechanism::{card_input, sign_kind, Hasher, PssParams};
use crate::object::{KeyKind, SigningKey};
use crate::operation::Output;
use crate::pin::{card_cleared_pin_status, status_after};
use crate::session::{Session, SignState};
use crate::token::Login;
use cryptoki_sys::*;

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

/// A `C_Sign`, `C_SignUpdate` or `C_SignFinal` result, after which a failed call has
/// ended the operation — whatever failed, the arguments included — unless it was
/// `CKR_BUFFER_TOO_SMALL` (PKCS#11 §5.11). No client needs the operation kept.
pub fn end_on_failure<T>(session: &Session, result: Result<T, CK_RV>) -> Result<T, CK_RV> {
    if result.as_ref().is_err_and(|rv| *rv != CKR_BUFFER_TOO_SMALL) {
        *session.sign.lock() = None;
    }
    result
}

pub fn sign_init(
    session: &Session,
    mechanism: CK_MECHANISM_TYPE,
    has_params: bool,
    pss: Option<PssParams>,
    key_handle: CK_OBJECT_HANDLE,
) -> Result<(), CK_RV> {
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
    if !crate::mechanism::offered(mechanism, token.data.family) {
        // Not listed for this token: its card family cannot make such a signature.
        return Err(CKR_MECHANISM_INVALID);
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
pub fn sign(session: &Session, data: &[u8], capacity: Option<usize>) -> Result<Output, CK_RV> {
    end_on_failure(session, sign_once(session, data, capacity))
}

fn sign_once(session: &Session, data: &[u8], capacity: Option<usize>) -> Result<Output, CK_RV> {
    let mut guard = session.sign.lock();
    let state = guard.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
    if state.multipart {
        return Err(CKR_OPERATION_ACTIVE);
    }
    if let Some(answer) = Output::length_answer(state.key.signature_len, capacity) {
        return Ok(answer);
    }
    // From here the call ends the operation, whatever happens.
    let Some(state) = guard.take() else {
        return Err(CKR_OPERATION_NOT_INITIALIZED);
    };
    drop(guard);
    let input = card_input(
        state.kind,
        &state.key,
        data,
        None,
        session.token.data.max_command_data,
    )?;
    sign_on_card(session, state, &input)
}

pub fn sign_update(session: &Session, data: &[u8]) -> Result<(), CK_RV> {
    end_on_failure(session, update(session, data))
}

fn update(session: &Session, data: &[u8]) -> Result<(), CK_RV> {
    let mut guard = session.sign.lock();
    let state = guard.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
    match state.hasher.as_mut() {
        Some(hasher) => {
            hasher.update(data);
            state.multipart = true;
            Ok(())
        }
        // Raw mechanisms are single-part only.
        None => Err(CKR_FUNCTION_NOT_SUPPORTED),
    }
}

pub fn sign_final(session: &Session, capacity: Option<usize>) -> Result<Output, CK_RV> {
    end_on_failure(session, finish(session, capacity))
}

fn finish(session: &Session, capacity: Option<usize>) -> Result<Output, CK_RV> {
    let mut guard = session.sign.lock();
    let state = guard.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
    if state.hasher.is_none() {
        return Err(CKR_FUNCTION_NOT_SUPPORTED);
    }
    if let Some(answer) = Output::length_answer(state.key.signature_len, capacity) {
        return Ok(answer);
    }
    let Some(mut state) = guard.take() else {
        return Err(CKR_OPERATION_NOT_INITIALIZED);
    };
    drop(guard);
    let hash = state.hasher.take().map(Hasher::finish);
    let input = card_input(
        state.kind,
        &state.key,
        &[],
        hash,
        session.token.data.max_command_data,
    )?;
    sign_on_card(session, state, &input)
}

fn sign_on_card(session: &Session, state: SignState, input: &[u8]) -> Result<Output, CK_RV> {
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
            token.logout_user();
        }
    }
    let signature = result.map_err(|e| card_rv(&e))?;
    normalise_signature(&state.key, signature).map(Output::Bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mechanism::tests::rsa_key;

    #[test]
    fn short_rsa_signatures_are_left_padded() {
        let key = rsa_key();
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
