//! Message digesting (`C_Digest*`, pkcs11-spec.md §2.12): SHA-1 and SHA-2 computed in the
//! module, no card I/O. SunPKCS11 needs the digest mechanisms listed before it offers
//! RSASSA-PSS (JSSE TLS 1.3 client authentication), and signing programs hash through
//! the token they sign with.

use crate::card::HashAlg;
use crate::mechanism::{hash_len, Hasher};
use crate::operation::{Operation, Output};
use crate::session::Session;
use crate::token::Login;
use cryptoki_sys::*;

/// The digest mechanisms, in the order `C_GetMechanismList` lists them.
pub const DIGEST_MECHANISMS: [CK_MECHANISM_TYPE; 5] =
    [CKM_SHA_1, CKM_SHA224, CKM_SHA256, CKM_SHA384, CKM_SHA512];

/// The hash a digest mechanism (also the `hashAlg` of PSS parameters) names.
pub fn hash_of(mechanism: CK_MECHANISM_TYPE) -> Option<HashAlg> {
    Some(match mechanism {
        CKM_SHA_1 => HashAlg::Sha1,
        CKM_SHA224 => HashAlg::Sha224,
        CKM_SHA256 => HashAlg::Sha256,
        CKM_SHA384 => HashAlg::Sha384,
        CKM_SHA512 => HashAlg::Sha512,
        _ => return None,
    })
}

/// Mechanism info of a digest mechanism: `CKF_DIGEST` only. Not `CKF_HW`: the module
/// computes it, not the card (SunPKCS11 and pkcs11-tool's digest paths do not ask for
/// `CKF_HW`). No keys, so key sizes 0.
pub fn digest_mechanism_info(mechanism: CK_MECHANISM_TYPE) -> Option<CK_MECHANISM_INFO> {
    hash_of(mechanism).map(|_| CK_MECHANISM_INFO {
        ulMinKeySize: 0,
        ulMaxKeySize: 0,
        flags: CKF_DIGEST,
    })
}

/// An active digest operation of a session.
pub struct DigestOperation {
    hasher: Hasher,
    len: usize,
    /// C_DigestUpdate was called: C_Digest may not finish it.
    multipart: bool,
}

/// A `C_Digest`, `C_DigestUpdate` or `C_DigestFinal` result, after which a failed call
/// has ended the digest — whatever failed, the arguments included — unless it was
/// `CKR_BUFFER_TOO_SMALL` (PKCS#11 §5.12). A verification or signature is left alone.
pub fn end_on_failure<T>(session: &Session, result: Result<T, CK_RV>) -> Result<T, CK_RV> {
    if result.as_ref().is_err_and(|rv| *rv != CKR_BUFFER_TOO_SMALL) {
        session.operations.cancel(true, false);
    }
    result
}

/// C_DigestInit. `has_params`: the application passed mechanism parameters.
pub fn digest_init(
    session: &Session,
    mechanism: CK_MECHANISM_TYPE,
    has_params: bool,
) -> Result<(), CK_RV> {
    session.start_operation(|| {
        let alg = hash_of(mechanism).ok_or(CKR_MECHANISM_INVALID)?;
        if has_params {
            return Err(CKR_MECHANISM_PARAM_INVALID);
        }
        Ok(Operation::Digest(DigestOperation {
            hasher: Hasher::new(alg),
            len: hash_len(alg),
            multipart: false,
        }))
    })
}

/// C_Digest. `capacity` None: the application passed a NULL buffer.
pub fn digest(session: &Session, data: &[u8], capacity: Option<usize>) -> Result<Output, CK_RV> {
    session.operations.with(|slot| {
        let Some(Operation::Digest(op)) = slot.as_ref() else {
            return Err(CKR_OPERATION_NOT_INITIALIZED);
        };
        if op.multipart {
            return Err(CKR_OPERATION_ACTIVE);
        }
        if let Some(answer) = Output::length_answer(op.len, capacity) {
            return Ok(answer);
        }
        let Some(Operation::Digest(mut op)) = slot.take() else {
            return Err(CKR_OPERATION_NOT_INITIALIZED);
        };
        op.hasher.update(data);
        Ok(Output::Bytes(op.hasher.finish()))
    })
}

pub fn digest_update(session: &Session, data: &[u8]) -> Result<(), CK_RV> {
    session.operations.with(|slot| match slot.as_mut() {
        Some(Operation::Digest(op)) => {
            op.hasher.update(data);
            op.multipart = true;
            Ok(())
        }
        _ => Err(CKR_OPERATION_NOT_INITIALIZED),
    })
}

/// C_DigestKey: only secret keys can be digested and a card has none, so every key
/// of the token is `CKR_KEY_INDIGESTIBLE`. The failed call ends the operation, like
/// a failed C_DigestUpdate.
pub fn digest_key(session: &Session, key: CK_OBJECT_HANDLE) -> Result<(), CK_RV> {
    session.operations.with(|slot| {
        if !matches!(slot, Some(Operation::Digest(_))) {
            return Err(CKR_OPERATION_NOT_INITIALIZED);
        }
        *slot = None;
        let token = &session.token;
        let object = token.object(key).ok_or(CKR_KEY_HANDLE_INVALID)?;
        let visible = !object.private || token.login() == Login::User;
        match object.class {
            CKO_PUBLIC_KEY | CKO_PRIVATE_KEY if visible => Err(CKR_KEY_INDIGESTIBLE),
            _ => Err(CKR_KEY_HANDLE_INVALID),
        }
    })
}

pub fn digest_final(session: &Session, capacity: Option<usize>) -> Result<Output, CK_RV> {
    session.operations.with(|slot| {
        let Some(Operation::Digest(op)) = slot.as_ref() else {
            return Err(CKR_OPERATION_NOT_INITIALIZED);
        };
        if let Some(answer) = Output::length_answer(op.len, capacity) {
            return Ok(answer);
        }
        let Some(Operation::Digest(op)) = slot.take() else {
            return Err(CKR_OPERATION_NOT_INITIALIZED);
        };
        Ok(Output::Bytes(op.hasher.finish()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_mechanisms_name_their_hash() {
        let lens: Vec<usize> = DIGEST_MECHANISMS
            .iter()
            .map(|m| hash_len(hash_of(*m).unwrap()))
            .collect();
        assert_eq!(lens, [20, 28, 32, 48, 64]);
        assert_eq!(hash_of(CKM_MD5), None);
        assert_eq!(hash_of(CKM_SHA256_RSA_PKCS), None);
        let info = digest_mechanism_info(CKM_SHA384).unwrap();
        assert_eq!(
            (info.flags, info.ulMinKeySize, info.ulMaxKeySize),
            (CKF_DIGEST, 0, 0)
        );
        assert!(digest_mechanism_info(CKM_ECDSA).is_none());
    }
}
