//! The commands: status, pin change, pin unblock, sign.

use crate::certinfo::{CertSummary, KeyKind};
use crate::cms::{self, Scheme, SignedAttributes};
use crate::i18n::{Lang, Msg, Secret};
use crate::policy::{CounterFlags, Policy};
use crate::prompt::Input;
use crate::token::{self, failure, rv, Module};
use crate::{Exit, Failure, Options};
use cryptoki::error::RvError;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::{Slot, TokenInfo};
use cryptoki::types::AuthPin;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use zeroize::Zeroizing;

/// Printer bound to the chosen language.
pub struct Out {
    pub lang: Lang,
}

impl Out {
    pub fn say(&self, msg: Msg) {
        crate::write_out(&format!("{}\n", msg.text(self.lang)));
    }
}

/// `eimza status`. Exit 0 when at least one token answered, 2 otherwise.
pub fn status(opts: &Options, out: &Out) -> Result<(), Failure> {
    let module = Module::load(opts.module.as_deref())?;
    if let Ok(info) = module.ctx.get_library_info() {
        let v = info.library_version();
        out.say(Msg::ModuleLine {
            path: module.path.display().to_string(),
            description: token::trimmed(info.library_description()),
            manufacturer: token::trimmed(info.manufacturer_id()),
            version: format!("{}.{}", v.major(), v.minor()),
        });
    }
    let slots = module.ctx.get_all_slots().map_err(failure)?;
    if slots.is_empty() {
        return Err(Failure::new(Exit::NoToken, Msg::NoSlots));
    }
    if let Some(id) = opts.slot {
        if !slots.iter().any(|s| s.id() == id) {
            return Err(Failure::new(Exit::NoToken, Msg::SlotNotFound(id)));
        }
    }
    let mut tokens = 0;
    for slot in slots
        .into_iter()
        .filter(|s| opts.slot.is_none_or(|id| s.id() == id))
    {
        let description = module
            .ctx
            .get_slot_info(slot)
            .map(|i| token::trimmed(i.slot_description()))
            .unwrap_or_default();
        out.say(Msg::SlotLine {
            id: slot.id(),
            description,
        });
        let info = match module.ctx.get_token_info(slot) {
            Ok(info) => info,
            Err(e) => {
                out.say(match rv(&e) {
                    Some(RvError::TokenNotRecognized) => Msg::CardNotRecognized,
                    Some(RvError::TokenNotPresent) => Msg::CardAbsent,
                    _ => Msg::ModuleError(e.to_string()),
                });
                continue;
            }
        };
        tokens += 1;
        token_status(&module, slot, &info, out);
    }
    if tokens == 0 {
        return Err(Failure::new(Exit::NoToken, Msg::NoCard));
    }
    Ok(())
}

fn token_status(module: &Module, slot: Slot, info: &TokenInfo, out: &Out) {
    if !info.token_initialized() {
        out.say(Msg::TokenNotInitialized);
        return;
    }
    out.say(Msg::CardPresent);
    out.say(Msg::TokenLabel(token::trimmed(info.label())));
    out.say(Msg::TokenSerial(token::trimmed(info.serial_number())));
    out.say(Msg::TokenManufacturer(token::trimmed(
        info.manufacturer_id(),
    )));
    out.say(Msg::TokenModel(token::trimmed(info.model())));
    let policy = Policy::user_pin(info.min_pin_length(), info.max_pin_length());
    out.say(Msg::PinLengthRule(
        policy.min,
        info.max_pin_length().max(policy.min),
    ));
    let user = CounterFlags::user(info);
    out.say(Msg::State(Secret::Pin, user.state()));
    if user.to_be_changed {
        out.say(Msg::PinToBeChanged(Secret::Pin));
    }
    let so = CounterFlags::so(info);
    out.say(Msg::State(Secret::Puk, so.state()));
    if so.to_be_changed {
        out.say(Msg::PinToBeChanged(Secret::Puk));
    }
    let certs = module
        .ctx
        .open_ro_session(slot)
        .map_err(failure)
        .and_then(|session| token::read_certificates(&session));
    match certs {
        Ok(certs) if certs.is_empty() => out.say(Msg::NoCertificates),
        Ok(certs) => {
            for cert in certs {
                out.say(Msg::CertHeader(cert.label.clone()));
                match &cert.summary {
                    Ok(summary) => summary.status_lines().into_iter().for_each(|m| out.say(m)),
                    Err(e) => out.say(Msg::CertUnreadable(e.clone())),
                }
            }
        }
        Err(f) => out.say(f.msg),
    }
}

/// Reads a secret and checks it against `policy` before anything else sees it.
fn ask(input: &mut Input, prompt: Msg, policy: &Policy) -> Result<Zeroizing<String>, Failure> {
    let value = input.secret(&prompt)?;
    policy
        .check(&value)
        .map_err(|m| Failure::new(Exit::Usage, m))?;
    Ok(value)
}

/// New PIN twice; both must match and follow the policy.
fn ask_new_pin(input: &mut Input, policy: &Policy) -> Result<Zeroizing<String>, Failure> {
    let first = ask(input, Msg::PromptNewPin, policy)?;
    let second = input.secret(&Msg::PromptNewPinAgain)?;
    if *first != *second {
        return Err(Failure::new(Exit::Usage, Msg::PinsDiffer));
    }
    Ok(first)
}

/// Before a last try: the warning, then an explicit yes or nothing happens.
fn confirm_last_try(input: &mut Input, secret: Secret, out: &Out) -> Result<(), Failure> {
    crate::write_err(&format!("{}\n", Msg::LastTryWarning(secret).text(out.lang)));
    if input.confirm(&Msg::ConfirmQuestion)? {
        Ok(())
    } else {
        Err(Failure::new(Exit::Usage, Msg::Cancelled))
    }
}

/// cryptoki's PIN type, built without an intermediate copy left behind: the
/// `String` has exactly the PIN's capacity, so boxing it does not reallocate.
fn auth_pin(pin: &str) -> AuthPin {
    let mut exact = String::with_capacity(pin.len());
    exact.push_str(pin);
    AuthPin::from(exact)
}

/// What a failed PIN/PUK operation means for the holder, from fresh token flags.
fn pin_failure(module: &Module, slot: Slot, secret: Secret, e: cryptoki::error::Error) -> Failure {
    let flags = |info: &TokenInfo| match secret {
        Secret::Pin => CounterFlags::user(info),
        Secret::Puk => CounterFlags::so(info),
    };
    match rv(&e) {
        Some(RvError::PinIncorrect) => {
            let tries = module
                .token_info(slot)
                .map(|info| flags(&info).tries_left())
                .unwrap_or(crate::i18n::TriesLeft::Unknown);
            let code = if tries == crate::i18n::TriesLeft::NoneLeft {
                Exit::Blocked
            } else {
                Exit::WrongPin
            };
            Failure::new(code, Msg::Incorrect(secret, tries))
        }
        Some(RvError::PinLocked) => Failure::new(Exit::Blocked, Msg::BlockedNow(secret)),
        Some(RvError::PinLenRange | RvError::PinInvalid) => {
            Failure::new(Exit::Usage, Msg::ModuleRejectedLength(secret))
        }
        _ => failure(e),
    }
}

/// `eimza pin change`: C_SetPIN(old, new) in an RW session.
pub fn pin_change(opts: &Options, out: &Out, input: &mut Input) -> Result<(), Failure> {
    let module = Module::load(opts.module.as_deref())?;
    let (slot, info) = module.choose_token(opts.slot)?;
    out.say(Msg::UsingToken(token::trimmed(info.label())));
    let user = CounterFlags::user(&info);
    if user.locked {
        return Err(Failure::new(
            Exit::Blocked,
            Msg::AlreadyBlocked(Secret::Pin),
        ));
    }
    if user.final_try {
        confirm_last_try(input, Secret::Pin, out)?;
    }
    let policy = Policy::user_pin(info.min_pin_length(), info.max_pin_length());
    let old = ask(input, Msg::PromptCurrentPin, &policy)?;
    let new = ask_new_pin(input, &policy)?;
    let session = module.ctx.open_rw_session(slot).map_err(failure)?;
    session
        .set_pin(&auth_pin(&old), &auth_pin(&new))
        .map_err(|e| pin_failure(&module, slot, Secret::Pin, e))?;
    out.say(Msg::PinChanged);
    Ok(())
}

/// `eimza pin unblock`: C_Login(CKU_SO, PUK) + C_InitPIN(new) in an RW session.
pub fn pin_unblock(opts: &Options, out: &Out, input: &mut Input) -> Result<(), Failure> {
    let module = Module::load(opts.module.as_deref())?;
    let (slot, info) = module.choose_token(opts.slot)?;
    out.say(Msg::UsingToken(token::trimmed(info.label())));
    let so = CounterFlags::so(&info);
    if so.locked {
        return Err(Failure::new(
            Exit::Blocked,
            Msg::AlreadyBlocked(Secret::Puk),
        ));
    }
    if so.final_try {
        confirm_last_try(input, Secret::Puk, out)?;
    }
    let puk = ask(input, Msg::PromptPuk, &Policy::puk())?;
    let policy = Policy::user_pin(info.min_pin_length(), info.max_pin_length());
    let new = ask_new_pin(input, &policy)?;
    // Only this RW session may be open: some modules refuse an SO login while a
    // read-only session exists.
    let session = module.ctx.open_rw_session(slot).map_err(failure)?;
    session
        .login(UserType::So, Some(&auth_pin(&puk)))
        .map_err(|e| pin_failure(&module, slot, Secret::Puk, e))?;
    drop(puk);
    let result = session.init_pin(&auth_pin(&new));
    let _ = session.logout();
    result.map_err(|e| pin_failure(&module, slot, Secret::Pin, e))?;
    out.say(Msg::PinUnblocked);
    Ok(())
}

/// Options of `eimza sign`.
#[derive(Debug)]
pub struct SignOptions {
    pub file: PathBuf,
    pub label: Option<String>,
    pub out: Option<PathBuf>,
    pub pss: bool,
}

/// `eimza sign FILE`: a detached CMS signature with the card's key.
pub fn sign(
    opts: &Options,
    sign: &SignOptions,
    out: &Out,
    input: &mut Input,
) -> Result<(), Failure> {
    let shown = sign.file.display().to_string();
    let content = std::fs::read(&sign.file)
        .map_err(|e| Failure::new(Exit::Other, Msg::ReadFailed(shown.clone(), e.to_string())))?;
    let out_path = sign.out.clone().unwrap_or_else(|| {
        let mut p = sign.file.clone().into_os_string();
        p.push(".p7s");
        PathBuf::from(p)
    });

    let module = Module::load(opts.module.as_deref())?;
    let (slot, info) = module.choose_token(opts.slot)?;
    out.say(Msg::UsingToken(token::trimmed(info.label())));
    let session = module.ctx.open_ro_session(slot).map_err(failure)?;
    let certs = token::read_certificates(&session)?;
    let index = choose_certificate(&certs, sign.label.as_deref())?;
    let chosen = &certs[index];
    let summary = chosen
        .summary
        .as_ref()
        .map_err(|e| Failure::new(Exit::Other, Msg::CertUnreadable(e.clone())))?;
    let available = module.ctx.get_mechanism_list(slot).ok();
    let plan = plan_for(&summary.key, sign.pss, available.as_deref())?;

    let user = CounterFlags::user(&info);
    if user.locked {
        return Err(Failure::new(
            Exit::Blocked,
            Msg::AlreadyBlocked(Secret::Pin),
        ));
    }
    if user.final_try {
        confirm_last_try(input, Secret::Pin, out)?;
    }
    let policy = Policy::user_pin(info.min_pin_length(), info.max_pin_length());
    let pin = ask(input, Msg::PromptPin, &policy)?;
    session
        .login(UserType::User, Some(&auth_pin(&pin)))
        .map_err(|e| pin_failure(&module, slot, Secret::Pin, e))?;
    let result = sign_with_card(&session, chosen, summary, &content, &plan, &pin, out);
    drop(pin);
    let _ = session.logout();
    let (attributes, signature) = result?;
    let chain = issuer_chain(&certs, summary);
    let p7s = cms::encode_signed_data(summary, &chain, attributes, plan.scheme, signature)
        .map_err(|e| Failure::new(Exit::Other, Msg::CmsFailed(e.to_string())))?;
    std::fs::write(&out_path, p7s).map_err(|e| {
        Failure::new(
            Exit::Other,
            Msg::WriteFailed(out_path.display().to_string(), e.to_string()),
        )
    })?;
    out.say(Msg::Signed {
        file: shown,
        out: out_path.display().to_string(),
    });
    Ok(())
}

fn sign_with_card(
    session: &Session,
    cert: &token::CertObject,
    summary: &CertSummary,
    content: &[u8],
    plan: &SignPlan,
    pin: &str,
    out: &Out,
) -> Result<(SignedAttributes, Vec<u8>), Failure> {
    let key = find_private_key(session, cert)?;
    out.say(Msg::SigningWith {
        label: cert.label.clone(),
        subject: summary.subject_cn.clone(),
        mechanism: plan.name.to_string(),
    });
    let cms_error = |e: der::Error| Failure::new(Exit::Other, Msg::CmsFailed(e.to_string()));
    let attributes =
        SignedAttributes::new(content, summary, std::time::SystemTime::now()).map_err(cms_error)?;
    let mut to_be_signed = attributes.to_be_signed().map_err(cms_error)?;
    if let Some(prefix) = plan.prehash_prefix {
        let digest = Sha256::digest(&to_be_signed);
        to_be_signed = [prefix, &digest[..]].concat();
    }
    let mechanism = &plan.mechanism;
    let always_authenticate = session
        .get_attributes(key, &[AttributeType::AlwaysAuthenticate])
        .ok()
        .and_then(|attrs| {
            attrs.into_iter().find_map(|a| match a {
                Attribute::AlwaysAuthenticate(v) => Some(v),
                _ => None,
            })
        })
        .unwrap_or(false);
    let raw = if always_authenticate {
        // A user-consent key wants the PIN again between C_SignInit and the
        // signature; the multi-part form leaves room for that login. (Raw mechanisms
        // have no multi-part form; the eimza module lists the hashing ones.)
        session.sign_init(mechanism, key).map_err(failure)?;
        session
            .login(UserType::ContextSpecific, Some(&auth_pin(pin)))
            .map_err(failure)?;
        session.sign_update(&to_be_signed).map_err(failure)?;
        session.sign_final().map_err(failure)?
    } else {
        session
            .sign(mechanism, key, &to_be_signed)
            .map_err(failure)?
    };
    let signature = match plan.scheme {
        Scheme::EcdsaSha256 => cms::ecdsa_raw_to_der(&raw).map_err(cms_error)?,
        Scheme::RsaPkcs1Sha256 | Scheme::RsaPssSha256 => raw,
    };
    Ok((attributes, signature))
}

/// --label, else the end-user certificate with nonRepudiation, else the first
/// end-user certificate (CA certificates on the card have no key to sign with).
fn choose_certificate(certs: &[token::CertObject], label: Option<&str>) -> Result<usize, Failure> {
    if let Some(label) = label {
        return certs
            .iter()
            .position(|c| c.label == label)
            .ok_or_else(|| Failure::new(Exit::Other, Msg::NoCertForLabel(label.to_string())));
    }
    let end_user = |c: &token::CertObject| c.summary.as_ref().is_ok_and(|s| !s.is_ca);
    certs
        .iter()
        .position(|c| end_user(c) && c.summary.as_ref().is_ok_and(|s| s.non_repudiation))
        .or_else(|| certs.iter().position(end_user))
        .ok_or_else(|| Failure::new(Exit::Other, Msg::NoCertificates))
}

/// The CA certificates on the card between the signer and its root (the root itself
/// excluded): put into the CMS so a verifier needs only the root.
fn issuer_chain(certs: &[token::CertObject], signer: &CertSummary) -> Vec<Vec<u8>> {
    let mut chain: Vec<Vec<u8>> = Vec::new();
    let mut issuer = signer.cert.tbs_certificate().issuer().clone();
    // A chain longer than the card's certificates would be a loop.
    for _ in 0..certs.len() {
        let next = certs
            .iter()
            .filter_map(|c| c.summary.as_ref().ok())
            .find(|s| {
                let tbs = s.cert.tbs_certificate();
                s.is_ca
                    && *tbs.subject() == issuer
                    && tbs.subject() != tbs.issuer()
                    && !chain.contains(&s.der)
            });
        match next {
            Some(ca) => {
                chain.push(ca.der.clone());
                issuer = ca.cert.tbs_certificate().issuer().clone();
            }
            None => break,
        }
    }
    chain
}

fn find_private_key(session: &Session, cert: &token::CertObject) -> Result<ObjectHandle, Failure> {
    let mut template = vec![Attribute::Class(ObjectClass::PRIVATE_KEY)];
    if cert.id.is_empty() {
        template.push(Attribute::Label(cert.label.as_bytes().to_vec()));
    } else {
        template.push(Attribute::Id(cert.id.clone()));
    }
    session
        .find_objects(&template)
        .map_err(failure)?
        .into_iter()
        .next()
        .ok_or_else(|| Failure::new(Exit::Other, Msg::NoSigningKey(cert.label.clone())))
}

/// DER DigestInfo prefix for SHA-256 (RFC 8017 §9.2 note 1).
const SHA256_DIGEST_INFO_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// How the token is asked to sign.
pub struct SignPlan {
    mechanism: Mechanism<'static>,
    /// `None`: the mechanism hashes; `Some(prefix)`: the tool hashes with SHA-256 and
    /// the token gets `prefix ‖ hash` (for modules without the hashing mechanism).
    prehash_prefix: Option<&'static [u8]>,
    scheme: Scheme,
    name: &'static str,
}

fn pss_params() -> PkcsPssParams {
    PkcsPssParams {
        hash_alg: MechanismType::SHA256,
        mgf: PkcsMgfType::MGF1_SHA256,
        s_len: 32.into(),
    }
}

/// The hashing mechanism when the token lists it (or lists nothing readable), else
/// the raw one with the hash computed here.
fn plan_for(
    key: &KeyKind,
    pss: bool,
    available: Option<&[MechanismType]>,
) -> Result<SignPlan, Failure> {
    let has = |m: MechanismType| available.is_none_or(|list| list.contains(&m));
    let plan = |mechanism, prehash_prefix, scheme, name| SignPlan {
        mechanism,
        prehash_prefix,
        scheme,
        name,
    };
    Ok(match key {
        KeyKind::Rsa { .. } if pss => {
            if has(MechanismType::SHA256_RSA_PKCS_PSS) {
                plan(
                    Mechanism::Sha256RsaPkcsPss(pss_params()),
                    None,
                    Scheme::RsaPssSha256,
                    "CKM_SHA256_RSA_PKCS_PSS",
                )
            } else {
                plan(
                    Mechanism::RsaPkcsPss(pss_params()),
                    Some(&[][..]),
                    Scheme::RsaPssSha256,
                    "CKM_RSA_PKCS_PSS",
                )
            }
        }
        KeyKind::Rsa { .. } => {
            if has(MechanismType::SHA256_RSA_PKCS) {
                plan(
                    Mechanism::Sha256RsaPkcs,
                    None,
                    Scheme::RsaPkcs1Sha256,
                    "CKM_SHA256_RSA_PKCS",
                )
            } else {
                plan(
                    Mechanism::RsaPkcs,
                    Some(&SHA256_DIGEST_INFO_PREFIX[..]),
                    Scheme::RsaPkcs1Sha256,
                    "CKM_RSA_PKCS",
                )
            }
        }
        KeyKind::Ec { .. } if pss => return Err(Failure::new(Exit::Usage, Msg::PssNeedsRsa)),
        KeyKind::Ec { .. } => {
            if has(MechanismType::ECDSA_SHA256) {
                plan(
                    Mechanism::EcdsaSha256,
                    None,
                    Scheme::EcdsaSha256,
                    "CKM_ECDSA_SHA256",
                )
            } else {
                plan(
                    Mechanism::Ecdsa,
                    Some(&[][..]),
                    Scheme::EcdsaSha256,
                    "CKM_ECDSA",
                )
            }
        }
        KeyKind::Other(what) => {
            return Err(Failure::new(Exit::Other, Msg::UnsupportedKey(what.clone())))
        }
    })
}
