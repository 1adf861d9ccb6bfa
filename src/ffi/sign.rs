//! Signing and random numbers (PKCS#11 §5.11, §5.15).

use super::*;
use crate::mechanism::PssParams;
use crate::session::SignOutput;

/// Read a CK_MECHANISM: (type, has parameters, PSS parameters if the block has their size).
pub(super) unsafe fn read_mechanism(
    pMechanism: *const CK_MECHANISM,
) -> Result<(CK_MECHANISM_TYPE, bool, Option<PssParams>), CK_RV> {
    let mechanism = pMechanism.as_ref().ok_or(CKR_ARGUMENTS_BAD)?;
    let len = mechanism.ulParameterLen;
    if mechanism.pParameter.is_null() {
        if len != 0 {
            // §2.1: NULL with a non-zero length is a pointer error.
            return Err(CKR_ARGUMENTS_BAD);
        }
        return Ok((mechanism.mechanism, false, None));
    }
    let pss = if len as usize == std::mem::size_of::<CK_RSA_PKCS_PSS_PARAMS>() {
        let p = std::ptr::read_unaligned(mechanism.pParameter as *const CK_RSA_PKCS_PSS_PARAMS);
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

pub(super) unsafe fn describe_mechanism(pMechanism: *const CK_MECHANISM) -> String {
    match pMechanism.as_ref() {
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
            format!(
                "hSession={hSession}, {}, hKey={hKey}",
                describe_mechanism(pMechanism)
            )
        },
        |m| {
            m.session(hSession)?;
            let (mechanism, has_params, pss) = read_mechanism(pMechanism)?;
            m.sign_init(hSession, mechanism, has_params, pss, hKey)
        },
    )
}

/// Deliver a signature result by the out-buffer convention.
unsafe fn deliver(
    output: SignOutput,
    pSignature: *mut CK_BYTE,
    pulSignatureLen: *mut CK_ULONG,
) -> Result<(), CK_RV> {
    let len = out_ref(pulSignatureLen)?;
    match output {
        SignOutput::Length(n) => {
            *len = n as CK_ULONG;
            Ok(())
        }
        SignOutput::TooSmall(n) => {
            *len = n as CK_ULONG;
            Err(CKR_BUFFER_TOO_SMALL)
        }
        SignOutput::Signature(sig) => write_array(pSignature, pulSignatureLen, &sig),
    }
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
            m.session(hSession)?;
            let data = in_slice(pData, ulDataLen)?;
            let capacity = out_capacity(pSignature, pulSignatureLen)?;
            let output = m.sign(hSession, data, capacity)?;
            deliver(output, pSignature, pulSignatureLen)
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
            m.session(hSession)?;
            let part = in_slice(pPart, ulPartLen)?;
            m.sign_update(hSession, part)
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
            m.session(hSession)?;
            let capacity = out_capacity(pSignature, pulSignatureLen)?;
            let output = m.sign_final(hSession, capacity)?;
            deliver(output, pSignature, pulSignatureLen)
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
            m.session(hSession)?;
            let out = in_out_slice(RandomData, ulRandomLen)?;
            if out.len() > MAX_ALLOCATION {
                return Err(CKR_ARGUMENTS_BAD);
            }
            let bytes = m.random(hSession, out.len())?;
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
            in_slice(pSeed, ulSeedLen)?;
            Err(CKR_RANDOM_SEED_NOT_SUPPORTED)
        },
    )
}
