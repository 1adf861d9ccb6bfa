//! Login and PIN management (pkcs11-spec.md §2.7): the PIN policy checked before any
//! APDU, `C_Login` (one VERIFY per login, also when threads race), `C_Logout`,
//! `C_InitPIN`, `C_SetPIN`, the context-specific login of always-authenticate keys, and
//! the counters the token flags come from.

use crate::card::{CardError, PinEncoding, PinInfo, PinStatus};
use crate::error::card_rv;
use crate::log::Level;
use crate::log_at;
use crate::session::Session;
use crate::token::{FailedLogin, Login, Token};
use cryptoki_sys::*;
use std::sync::atomic::Ordering;
use zeroize::Zeroizing;

/// Check a PIN value against the card's policy before anything is sent.
pub fn check_pin(info: &PinInfo, value: &[u8]) -> Result<(), CK_RV> {
    if value.len() < info.min_len || value.len() > info.max_len.max(info.min_len) {
        return Err(CKR_PIN_LEN_RANGE);
    }
    let ok = match info.encoding {
        PinEncoding::AsciiNumeric | PinEncoding::Bcd => value.iter().all(u8::is_ascii_digit),
        PinEncoding::Utf8 => std::str::from_utf8(value).is_ok(),
    };
    if ok {
        Ok(())
    } else {
        Err(CKR_PIN_INVALID)
    }
}

fn fits(info: &PinInfo, value: &[u8]) -> bool {
    check_pin(info, value).is_ok()
}

/// New counter state after a PIN-carrying command on `info`.
pub fn status_after(
    info: &PinInfo,
    before: PinStatus,
    result: &Result<(), CardError>,
) -> PinStatus {
    match result {
        Ok(()) => PinStatus::TriesLeft(info.max_tries),
        Err(CardError::PinIncorrect { tries_left: 0 }) | Err(CardError::PinBlocked) => {
            PinStatus::Blocked
        }
        Err(CardError::PinIncorrect { tries_left }) => PinStatus::TriesLeft(*tries_left),
        Err(_) => before,
    }
}

/// Whether a failed user-PIN command left the PIN's security status cleared on the
/// card (Part 1 §1.4): a blocked PIN always, a wrong CHANGE REFERENCE DATA too.
pub fn card_cleared_pin_status(error: &CardError, change_command: bool) -> bool {
    match error {
        CardError::PinBlocked | CardError::PinIncorrect { tries_left: 0 } => true,
        CardError::PinIncorrect { .. } => change_command,
        _ => false,
    }
}

/// The counter of the user PIN (`so` false) or the PUK after a PIN-carrying command.
fn record_status(token: &Token, so: bool, result: &Result<(), CardError>) {
    let mut live = token.live.lock();
    if so {
        if let (Some(puk), Some(status)) = (&token.data.puk, live.so_status) {
            live.so_status = Some(status_after(puk, status, result));
        }
    } else {
        live.user_status = status_after(&token.data.user_pin, live.user_status, result);
    }
}

/// `CKR_USER_ALREADY_LOGGED_IN` / `CKR_USER_ANOTHER_ALREADY_LOGGED_IN`, if so.
fn not_yet_logged_in(token: &Token, so: bool) -> Result<(), CK_RV> {
    match (token.login(), so) {
        (Login::User, false) | (Login::So, true) => Err(CKR_USER_ALREADY_LOGGED_IN),
        (Login::User, true) | (Login::So, false) => Err(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
        _ => Ok(()),
    }
}

/// C_Login. Logins on one token are serialised (`Token::login_gate`): a caller that
/// waited for another thread's login gets `CKR_USER_ALREADY_LOGGED_IN` if it succeeded,
/// and, if it failed on the same value, that answer — one VERIFY for both, never a
/// second try on a wrong PIN.
pub fn login(session: &Session, user: CK_USER_TYPE, pin: Zeroizing<Vec<u8>>) -> Result<(), CK_RV> {
    let token = &session.token;
    if user == CKU_CONTEXT_SPECIFIC {
        return context_login(session, pin);
    }
    let (info, so) = match user {
        CKU_USER => (&token.data.user_pin, false),
        CKU_SO => (token.data.puk.as_ref().ok_or(CKR_USER_TYPE_INVALID)?, true),
        _ => return Err(CKR_USER_TYPE_INVALID),
    };
    not_yet_logged_in(token, so)?;
    check_pin(info, &pin)?;

    let gate = &token.login_gate;
    let arrived_after = gate.attempts.load(Ordering::SeqCst);
    gate.waiting.fetch_add(1, Ordering::SeqCst);
    let mut state = gate.state.lock();
    gate.waiting.fetch_sub(1, Ordering::SeqCst);
    let result = (|| {
        // A login that finished while we waited.
        not_yet_logged_in(token, so)?;
        let same_failed = state
            .failed
            .iter()
            .find(|f| f.attempt > arrived_after && f.so == so && f.pin == pin);
        if let Some(failed) = same_failed {
            return Err(failed.rv);
        }
        let result = session
            .slot
            .with_card(token, |card| card.verify(info, &pin));
        record_status(token, so, &result);
        let attempt = gate.attempts.fetch_add(1, Ordering::SeqCst) + 1;
        match result {
            Ok(()) => {
                token.set_login(if so { Login::So } else { Login::User });
                Ok(())
            }
            Err(e) => {
                let rv = card_rv(&e);
                // Kept only for callers already waiting for this attempt.
                if gate.waiting.load(Ordering::SeqCst) > 0 {
                    state.failed.push(FailedLogin {
                        attempt,
                        so,
                        pin: pin.clone(),
                        rv,
                    });
                }
                Err(rv)
            }
        }
    })();
    if gate.waiting.load(Ordering::SeqCst) == 0 {
        // Nobody left who could be answered from these: wipe the values.
        state.failed.clear();
    }
    result
}

pub fn logout(session: &Session) -> Result<(), CK_RV> {
    let token = &session.token;
    if token.login() == Login::Public {
        return Err(CKR_USER_NOT_LOGGED_IN);
    }
    let result = session.slot.with_card(token, |card| card.logout());
    token.set_login(Login::Public);
    match result {
        Err(e @ CardError::Reader(_)) => Err(card_rv(&e)),
        // Whatever else the card says, the token is logged out now (LOGOUT falls
        // back to a reset in the card layer).
        _ => Ok(()),
    }
}

/// C_InitPIN after an SO (PUK) login: RESET RETRY COUNTER with the new PIN only.
pub fn init_pin(session: &Session, new_pin: Zeroizing<Vec<u8>>) -> Result<(), CK_RV> {
    let token = &session.token;
    if token.login() != Login::So {
        return Err(CKR_USER_NOT_LOGGED_IN);
    }
    if !session.rw {
        return Err(CKR_SESSION_READ_ONLY);
    }
    let info = &token.data.user_pin;
    check_pin(info, &new_pin)?;
    let result = session
        .slot
        .with_card(token, |card| card.reset_retry_counter(info, None, &new_pin));
    if result.is_ok() {
        token.live.lock().user_status = PinStatus::TriesLeft(info.max_tries);
    }
    result.map_err(|e| card_rv(&e))
}

/// C_SetPIN: PUK change when SO is logged in; unblock with the PUK when not logged in
/// and the old value can only be the PUK (or the PIN is blocked); otherwise a user-PIN
/// change.
pub fn set_pin(
    session: &Session,
    old: Zeroizing<Vec<u8>>,
    new: Zeroizing<Vec<u8>>,
) -> Result<(), CK_RV> {
    if !session.rw {
        return Err(CKR_SESSION_READ_ONLY);
    }
    let token = &session.token;
    let live = *token.live.lock();
    let user = &token.data.user_pin;
    let slot = &session.slot;
    match (live.login, token.data.puk.as_ref()) {
        (Login::So, Some(puk)) => {
            check_pin(puk, &old)?;
            check_pin(puk, &new)?;
            let result = slot.with_card(token, |card| card.change_reference_data(puk, &old, &new));
            record_status(token, true, &result);
            result.map_err(|e| card_rv(&e))
        }
        // Only a value that can be the PUK goes to the card as one, and only when it
        // cannot be meant as the PIN (or the PIN is blocked anyway): a user-PIN try is
        // never spent on an unblock, nor a PUK try on a PIN change.
        (Login::Public, Some(puk))
            if fits(puk, &old) && (!fits(user, &old) || live.user_status == PinStatus::Blocked) =>
        {
            check_pin(puk, &old)?;
            check_pin(user, &new)?;
            log_at!(
                Level::Info,
                "C_SetPIN: unblocking the user PIN with the PUK"
            );
            let result = slot.with_card(token, |card| {
                card.reset_retry_counter(user, Some((puk, &old)), &new)
            });
            record_status(token, true, &result);
            if result.is_ok() {
                token.live.lock().user_status = PinStatus::TriesLeft(user.max_tries);
            }
            result.map_err(|e| card_rv(&e))
        }
        _ => {
            check_pin(user, &old)?;
            check_pin(user, &new)?;
            let result = slot.with_card(token, |card| card.change_reference_data(user, &old, &new));
            record_status(token, false, &result);
            if result
                .as_ref()
                .is_err_and(|e| card_cleared_pin_status(e, true))
            {
                token.logout_user();
            }
            result.map_err(|e| card_rv(&e))
        }
    }
}

/// C_Login(CKU_CONTEXT_SPECIFIC): the PIN for the next signature of an
/// always-authenticate key; for other keys an ordinary PIN verification.
fn context_login(session: &Session, pin: Zeroizing<Vec<u8>>) -> Result<(), CK_RV> {
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
    record_status(token, false, &result);
    if result
        .as_ref()
        .is_err_and(|e| card_cleared_pin_status(e, false))
    {
        token.logout_user();
    }
    result.map_err(|e| card_rv(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(min: usize, max: usize) -> PinInfo {
        PinInfo {
            label: "PIN".into(),
            auth_id: vec![1],
            reference: 0x81,
            encoding: PinEncoding::AsciiNumeric,
            min_len: min,
            max_len: max,
            stored_len: max,
            pad_char: None,
            max_tries: 3,
            status: PinStatus::Unknown,
        }
    }

    #[test]
    fn pin_policy_is_checked_locally() {
        let p = pin(6, 6);
        assert_eq!(check_pin(&p, b"123456"), Ok(()));
        assert_eq!(check_pin(&p, b"12345"), Err(CKR_PIN_LEN_RANGE));
        assert_eq!(check_pin(&p, b"1234567"), Err(CKR_PIN_LEN_RANGE));
        assert_eq!(check_pin(&p, b"12345a"), Err(CKR_PIN_INVALID));
        assert_eq!(check_pin(&p, b""), Err(CKR_PIN_LEN_RANGE));
        let utf8 = PinInfo {
            encoding: PinEncoding::Utf8,
            ..pin(4, 8)
        };
        assert_eq!(check_pin(&utf8, b"abcd"), Ok(()));
        assert_eq!(
            check_pin(&utf8, &[0xFF, 0xFE, 0x41, 0x41]),
            Err(CKR_PIN_INVALID)
        );
    }

    #[test]
    fn counters_follow_results() {
        let p = pin(6, 6);
        let before = PinStatus::TriesLeft(3);
        assert_eq!(
            status_after(&p, before, &Err(CardError::PinIncorrect { tries_left: 2 })),
            PinStatus::TriesLeft(2)
        );
        assert_eq!(
            status_after(&p, before, &Err(CardError::PinIncorrect { tries_left: 0 })),
            PinStatus::Blocked
        );
        assert_eq!(
            status_after(&p, before, &Err(CardError::PinBlocked)),
            PinStatus::Blocked
        );
        assert_eq!(
            status_after(&p, PinStatus::TriesLeft(1), &Ok(())),
            PinStatus::TriesLeft(3)
        );
        assert_eq!(
            status_after(&p, before, &Err(CardError::Status(0x6F00))),
            before
        );
    }
}
