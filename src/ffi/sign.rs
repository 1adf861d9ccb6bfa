//! Signing and random numbers (PKCS#11 §5.11, §5.15).

use super::*;
use crate::mechanism::PssParams;
use crate::sign::end_on_failure;

/// Read a CK_MECHANISM: (type, has parameters, PSS parameters if the block has their size).
///
/// # Safety
/// `pMechanism` is NULL or a valid `CK_MECHANISM` whose `pParameter` is NULL or holds
/// `ulParameterLen` bytes.
pub(super) unsafe fn read_mechanism(
    pMechanism: *const CK_MECHANISM,
) -> Result<(CK_MECHANISM_TYPE, bool, Option<PssParams>), CK_RV> {
    // SAFETY: NULL gives None; otherwise valid by this function's contract.
    let mechanism = unsafe { pMechanism.as_ref() }.ok_or(CKR_ARGUMENTS_BAD)?;
    let len = mechanism.ulParameterLen;
    if mechanism.pParameter.is_null() {
        if len != 0 {
            // §2.1: NULL with a non-zero length is a pointer error.
            return Err(CKR_ARGUMENTS_BAD);
        }
        return Ok((mechanism.mechanism, false, None));
    }
    let pss = if len as usize == std::mem::size_of::<CK_RSA_PKCS_PSS_PARAMS>() {
        // SAFETY: pParameter holds ulParameterLen = size_of::<CK_RSA_PKCS_PSS_PARAMS>()
        // bytes (the contract); read unaligned, copied, never kept.
        let p = unsafe {
            std::ptr::read_unaligned(mechanism.pParameter as *const CK_RSA_PKCS_PSS_PARAMS)
        };
        Some(PssParams {
            hash_alg: p.hashAlg,
            mgf: p.mgf,
            salt_len: p.sLen,
        })
    } else {
        None
    };
    Ok((mechanism.mechanism, len != 0, pss))
}

/// The mechanism type and parameter length, for the log.
///
/// # Safety
/// `pMechanism` is NULL or a valid `CK_MECHANISM`.
pub(super) unsafe fn describe_mechanism(pMechanism: *const CK_MECHANISM) -> String {
    // SAFETY: NULL gives None; otherwise valid by this function's contract.
    match unsafe { pMechanism.as_ref() } {
        Some(m) => {
            // By value: CK_MECHANISM is 1-byte packed on Windows.
            let (mechanism, parameter_len) = (m.mechanism, m.ulParameterLen);
            format!("mechanism={mechanism:#x}/params {parameter_len}")
        }
        None => "mechanism=NULL".into(),
    }
}

#[no_mangle]
pub unsafe extern "C" fn C_SignInit(
    hSession: CK_SESSION_HANDLE,
    pMechanism: *mut CK_MECHANISM,
    hKey: CK_OBJECT_HANDLE,
) -> CK_RV {
    entry(
        "C_SignInit",
        || {
            // SAFETY: pMechanism is NULL or the caller's CK_MECHANISM.
            let described = unsafe { describe_mechanism(pMechanism) };
            format!("hSession={hSession}, {described}, hKey={hKey}")
        },
        |m| {
            let session = m.session(hSession)?;
            // SAFETY: pMechanism is NULL or the caller's CK_MECHANISM with its parameters.
            let (mechanism, has_params, pss) = unsafe { read_mechanism(pMechanism) }?;
            crate::sign::sign_init(&session, mechanism, has_params, pss, hKey)
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_Sign(
    hSession: CK_SESSION_HANDLE,
    pData: *mut CK_BYTE,
    ulDataLen: CK_ULONG,
    pSignature: *mut CK_BYTE,
    pulSignatureLen: *mut CK_ULONG,
) -> CK_RV {
    entry(
        "C_Sign",
        || {
            format!("hSession={hSession}, pData={pData:p}, ulDataLen={ulDataLen}, pSignature={pSignature:p}, pulSignatureLen={pulSignatureLen:p}")
        },
        |m| {
            let session = m.session(hSession)?;
            // Any failure but CKR_BUFFER_TOO_SMALL ends the operation, bad arguments
            // included (PKCS#11 §5.11; pkcs11-spec.md §2.6).
            let outcome = (|| {
                // SAFETY: pData holds ulDataLen bytes; pulSignatureLen is NULL or a
                // CK_ULONG (§2.1).
                let (data, capacity) = unsafe {
                    (
                        in_slice(pData, ulDataLen),
                        out_capacity(pSignature, pulSignatureLen),
                    )
                };
                let output = crate::sign::sign(&session, data?, capacity?)?;
                // SAFETY: pSignature is NULL or holds *pulSignatureLen bytes.
                unsafe { deliver(output, pSignature, pulSignatureLen) }
            })();
            end_on_failure(&session, outcome)
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_SignUpdate(
    hSession: CK_SESSION_HANDLE,
    pPart: *mut CK_BYTE,
    ulPartLen: CK_ULONG,
) -> CK_RV {
    entry(
        "C_SignUpdate",
        || format!("hSession={hSession}, pPart={pPart:p}, ulPartLen={ulPartLen}"),
        |m| {
            let session = m.session(hSession)?;
            let outcome = (|| {
                // SAFETY: pPart holds ulPartLen bytes (§2.1).
                let part = unsafe { in_slice(pPart, ulPartLen) }?;
                crate::sign::sign_update(&session, part)
            })();
            end_on_failure(&session, outcome)
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_SignFinal(
    hSession: CK_SESSION_HANDLE,
    pSignature: *mut CK_BYTE,
    pulSignatureLen: *mut CK_ULONG,
) -> CK_RV {
    entry(
        "C_SignFinal",
        || {
            format!("hSession={hSession}, pSignature={pSignature:p}, pulSignatureLen={pulSignatureLen:p}")
        },
        |m| {
            let session = m.session(hSession)?;
            let outcome = (|| {
                // SAFETY: pulSignatureLen is NULL or a CK_ULONG (§2.1).
                let capacity = unsafe { out_capacity(pSignature, pulSignatureLen) }?;
                let output = crate::sign::sign_final(&session, capacity)?;
                // SAFETY: pSignature is NULL or holds *pulSignatureLen bytes.
                unsafe { deliver(output, pSignature, pulSignatureLen) }
            })();
            end_on_failure(&session, outcome)
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_GenerateRandom(
    hSession: CK_SESSION_HANDLE,
    RandomData: *mut CK_BYTE,
    ulRandomLen: CK_ULONG,
) -> CK_RV {
    entry(
        "C_GenerateRandom",
        || format!("hSession={hSession}, RandomData={RandomData:p}, ulRandomLen={ulRandomLen}"),
        |m| {
            let session = m.session(hSession)?;
            // SAFETY: RandomData holds ulRandomLen bytes (§2.1).
            let out = unsafe { in_out_slice(RandomData, ulRandomLen) }?;
            if out.len() > MAX_ALLOCATION {
                return Err(CKR_ARGUMENTS_BAD);
            }
            let bytes = session.random(out.len())?;
            out.copy_from_slice(&bytes);
            Ok(())
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn C_SeedRandom(
    hSession: CK_SESSION_HANDLE,
    pSeed: *mut CK_BYTE,
    ulSeedLen: CK_ULONG,
) -> CK_RV {
    entry(
        "C_SeedRandom",
        || format!("hSession={hSession}, pSeed={pSeed:p}, ulSeedLen={ulSeedLen}"),
        |m| {
            m.session(hSession)?;
            // SAFETY: pSeed holds ulSeedLen bytes (§2.1).
            unsafe { in_slice(pSeed, ulSeedLen) }?;
            Err(CKR_RANDOM_SEED_NOT_SUPPORTED)
        },
    )
}
