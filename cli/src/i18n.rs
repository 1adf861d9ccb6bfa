//! The message catalogue: every sentence the tool prints, in English and Turkish.
//!
//! One enum, one function per language, so a missing translation is a compile error
//! rather than an English sentence in the middle of Turkish output.

/// Output language, chosen once from the locale environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    English,
    Turkish,
}

impl Lang {
    /// POSIX precedence: the first non-empty of LC_ALL, LC_MESSAGES, LANG decides.
    pub fn from_env() -> Lang {
        Lang::from_vars(|name| std::env::var(name).ok())
    }

    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Lang {
        let locale = ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|name| get(name))
            .find(|value| !value.is_empty())
            .unwrap_or_default();
        if locale.to_ascii_lowercase().starts_with("tr") {
            Lang::Turkish
        } else {
            Lang::English
        }
    }
}

/// What the last failed PIN/PUK attempt left, as far as the token flags tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TriesLeft {
    /// The module reports no counter flags: nothing is known.
    Unknown,
    /// `CKF_*_COUNT_LOW`: at least one try was wasted; more than one remains.
    SeveralLeft,
    /// `CKF_*_FINAL_TRY`.
    OneLeft,
    /// `CKF_*_LOCKED`.
    NoneLeft,
}

/// The PIN or PUK state shown by `eimza status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretState {
    NoWrongTries,
    WrongTries,
    LastTry,
    Blocked,
    NotInitialized,
}

/// Which secret a message is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Secret {
    Pin,
    Puk,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    Help,
    Version,
    UnknownCommand(String),
    MissingValue(String),
    UnexpectedArgument(String),
    BadSlotId(String),
    /// Another command-line error, in clap's (English) words.
    Usage(String),
    /// `eimza pin` without change/unblock.
    MissingSubcommand(String),
    MissingFile,

    ModuleNotFound(Vec<String>),
    ModuleLoadFailed(String, String),
    ModuleError(String),
    ModuleLine {
        path: String,
        description: String,
        manufacturer: String,
        version: String,
    },
    NoSlots,
    NoCard,
    SlotNotFound(u64),
    SlotLine {
        id: u64,
        description: String,
    },
    CardPresent,
    CardAbsent,
    CardNotRecognized,
    TokenNotInitialized,
    TokenLabel(String),
    TokenSerial(String),
    TokenManufacturer(String),
    TokenModel(String),
    PinLengthRule(usize, usize),
    State(Secret, SecretState),
    PinToBeChanged(Secret),
    UsingToken(String),

    CertHeader(String),
    CertSubject {
        cn: String,
        serial: Option<String>,
    },
    CertIssuer(String),
    CertValidity {
        from: String,
        to: String,
        validity: Validity,
    },
    CertKey {
        kind: String,
        bits: Option<usize>,
    },
    CertKeyUsage(Vec<&'static str>),
    CertNoKeyUsage,
    CertUnreadable(String),
    NoCertificates,

    PromptCurrentPin,
    PromptNewPin,
    PromptNewPinAgain,
    PromptPuk,
    PromptPin,
    ConfirmQuestion,
    LastTryWarning(Secret),
    Cancelled,
    EndOfInput,
    PinsDiffer,
    PolicyLength {
        secret: Secret,
        min: usize,
        max: usize,
    },
    PolicyDigits(Secret),
    AlreadyBlocked(Secret),
    Incorrect(Secret, TriesLeft),
    BlockedNow(Secret),
    ModuleRejectedLength(Secret),
    PinChanged,
    PinUnblocked,
    NotLoggedInAfterAll,

    NoCertForLabel(String),
    NoSigningKey(String),
    UnsupportedKey(String),
    PssNeedsRsa,
    ReadFailed(String, String),
    WriteFailed(String, String),
    SigningWith {
        label: String,
        subject: String,
        mechanism: String,
    },
    Signed {
        file: String,
        out: String,
    },
    CmsFailed(String),

    DemoNeedsModule,
    DemoStep(DemoStep),
    DemoCardCreated {
        dir: String,
        serial: String,
    },
    DemoVerified,
    DemoVerifyFailed(String),
    DemoNoOpenssl,
    DemoUnexpected(String),
    DemoDone,

    Diagnose(crate::diagnose::DiagnoseMsg),
}

/// The steps of `eimza demo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DemoStep {
    Create,
    Status,
    Sign,
    Verify,
    Change,
    Block(u8),
    Unblock,
    SignAgain,
}

/// Certificate validity relative to now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    Valid,
    Expired,
    NotYetValid,
}

impl Msg {
    pub fn text(&self, lang: Lang) -> String {
        match lang {
            Lang::English => english(self),
            Lang::Turkish => turkish(self),
        }
    }
}

fn english(msg: &Msg) -> String {
    use Msg::*;
    match msg {
        Help => crate::args::help(Lang::English),
        Version => format!("eimza {}", env!("CARGO_PKG_VERSION")),
        UnknownCommand(c) => format!("unknown command or option: {c} (see eimza --help)"),
        MissingValue(o) => format!("{o} needs a value (see eimza --help)"),
        UnexpectedArgument(a) => format!("unexpected argument: {a} (see eimza --help)"),
        BadSlotId(s) => format!("not a slot number: {s}"),
        Usage(e) => format!("{e} (see eimza --help)"),
        MissingSubcommand(c) => format!("eimza {c} needs a command (see eimza {c} --help)"),
        MissingFile => "eimza sign needs the FILE to sign".into(),
        ModuleNotFound(tried) => format!(
            "no PKCS#11 module found; give one with --module PATH. Looked for:\n  {}",
            tried.join("\n  ")
        ),
        ModuleLoadFailed(p, e) => format!("cannot load the PKCS#11 module {p}: {e}"),
        ModuleError(e) => format!("the PKCS#11 module reported an error: {e}"),
        ModuleLine {
            path,
            description,
            manufacturer,
            version,
        } => {
            format!("Module: {path} ({description}, {manufacturer}, version {version})")
        }
        NoSlots => "No card reader (slot) found.".into(),
        NoCard => "No card found: insert your card into the reader.".into(),
        SlotNotFound(id) => format!("There is no slot {id}."),
        SlotLine { id, description } => format!("Slot {id}: {description}"),
        CardPresent => "  Card: present".into(),
        CardAbsent => "  Card: none in this reader".into(),
        CardNotRecognized => "  Card: present, but not a card this module knows".into(),
        TokenNotInitialized => "  Card: present, but not initialised (empty)".into(),
        TokenLabel(l) => format!("  Token label: {l}"),
        TokenSerial(s) => format!("  Serial number: {s}"),
        TokenManufacturer(m) => format!("  Manufacturer: {m}"),
        TokenModel(m) => format!("  Model: {m}"),
        PinLengthRule(min, max) if min == max => format!("  PIN length: {min} digits"),
        PinLengthRule(min, max) => format!("  PIN length: {min} to {max} digits"),
        State(secret, state) => {
            let name = secret_name_en(*secret);
            let text = match (secret, state) {
                (_, SecretState::NoWrongTries) => "no wrong tries since the last correct one",
                (_, SecretState::WrongTries) => {
                    "wrong tries since the last correct one; fewer tries are left"
                }
                (Secret::Pin, SecretState::LastTry) => {
                    "LAST TRY — one more wrong PIN blocks the card"
                }
                (Secret::Puk, SecretState::LastTry) => {
                    "LAST TRY — one more wrong PUK makes the card unusable"
                }
                (Secret::Pin, SecretState::Blocked) => {
                    "BLOCKED — unblock it with your PUK: eimza pin unblock"
                }
                (Secret::Puk, SecretState::Blocked) => "BLOCKED — the card must be re-issued",
                (_, SecretState::NotInitialized) => "not set on this card",
            };
            format!("  {name}: {text}")
        }
        PinToBeChanged(secret) => format!(
            "  {}: must be changed before use (eimza pin change)",
            secret_name_en(*secret)
        ),
        UsingToken(label) => format!("Card: {label}"),
        CertHeader(label) => format!("  Certificate \"{label}\""),
        CertSubject {
            cn,
            serial: Some(s),
        } => format!("    Subject: {cn} (serial number {s})"),
        CertSubject { cn, serial: None } => format!("    Subject: {cn}"),
        CertIssuer(cn) => format!("    Issuer: {cn}"),
        CertValidity { from, to, validity } => {
            let state = match validity {
                Validity::Valid => "valid",
                Validity::Expired => "EXPIRED",
                Validity::NotYetValid => "NOT YET VALID",
            };
            format!("    Valid: {from} to {to} ({state})")
        }
        CertKey {
            kind,
            bits: Some(b),
        } => format!("    Key: {kind} {b} bits"),
        CertKey { kind, bits: None } => format!("    Key: {kind}"),
        CertKeyUsage(uses) => format!("    Key usage: {}", uses.join(", ")),
        CertNoKeyUsage => "    Key usage: not restricted (no keyUsage extension)".into(),
        CertUnreadable(e) => format!("    (cannot read this certificate: {e})"),
        NoCertificates => "  Certificates: none".into(),
        PromptCurrentPin => "Current PIN: ".into(),
        PromptNewPin => "New PIN: ".into(),
        PromptNewPinAgain => "New PIN again: ".into(),
        PromptPuk => "PUK: ".into(),
        PromptPin => "PIN: ".into(),
        ConfirmQuestion => "Continue? [y/N] ".into(),
        LastTryWarning(Secret::Pin) => {
            "Warning: this is your last try; a wrong PIN blocks the card.".into()
        }
        LastTryWarning(Secret::Puk) => {
            "Warning: this is your last try; a wrong PUK makes the card unusable.".into()
        }
        Cancelled => "Cancelled; nothing was sent to the card.".into(),
        EndOfInput => "No input (end of file) where a PIN or answer was expected.".into(),
        PinsDiffer => "The two new PINs differ; nothing was changed.".into(),
        PolicyLength { secret, min, max } if min == max => format!(
            "The {} must be exactly {min} digits; nothing was sent to the card.",
            secret_name_en(*secret)
        ),
        PolicyLength { secret, min, max } => format!(
            "The {} must be {min} to {max} digits; nothing was sent to the card.",
            secret_name_en(*secret)
        ),
        PolicyDigits(secret) => format!(
            "The {} may contain digits only; nothing was sent to the card.",
            secret_name_en(*secret)
        ),
        AlreadyBlocked(Secret::Pin) => {
            "Your PIN is blocked. Unblock it with your PUK: eimza pin unblock".into()
        }
        AlreadyBlocked(Secret::Puk) => {
            "Your PUK is blocked; the card must be re-issued by its issuer.".into()
        }
        Incorrect(secret, tries) => {
            let name = secret_name_en(*secret);
            let rest = match (secret, tries) {
                (_, TriesLeft::Unknown) => "The module does not tell how many tries remain.",
                (_, TriesLeft::SeveralLeft) => "More than one try remains.",
                (Secret::Pin, TriesLeft::OneLeft) => {
                    "Only ONE try remains: a wrong PIN next time blocks the card."
                }
                (Secret::Puk, TriesLeft::OneLeft) => {
                    "Only ONE try remains: a wrong PUK next time makes the card unusable."
                }
                (Secret::Pin, TriesLeft::NoneLeft) => {
                    "The PIN is now BLOCKED; unblock it with your PUK: eimza pin unblock"
                }
                (Secret::Puk, TriesLeft::NoneLeft) => {
                    "The PUK is now BLOCKED; the card must be re-issued."
                }
            };
            format!("Wrong {name}. {rest}")
        }
        BlockedNow(Secret::Pin) => {
            "The PIN is BLOCKED; unblock it with your PUK: eimza pin unblock".into()
        }
        BlockedNow(Secret::Puk) => "The PUK is BLOCKED; the card must be re-issued.".into(),
        ModuleRejectedLength(secret) => format!(
            "The card refused the length of the {}; nothing was changed.",
            secret_name_en(*secret)
        ),
        PinChanged => "Your PIN has been changed.".into(),
        PinUnblocked => "Your PIN is unblocked and set to the new value.".into(),
        NotLoggedInAfterAll => "The card did not accept the login.".into(),
        NoCertForLabel(l) => format!("No certificate labelled \"{l}\" on the card."),
        NoSigningKey(l) => format!("No private key for the certificate \"{l}\" on the card."),
        UnsupportedKey(k) => format!("Cannot sign with this key type: {k}"),
        PssNeedsRsa => "--pss is for RSA keys; this key is not RSA.".into(),
        ReadFailed(p, e) => format!("Cannot read {p}: {e}"),
        WriteFailed(p, e) => format!("Cannot write {p}: {e}"),
        SigningWith {
            label,
            subject,
            mechanism,
        } => {
            format!("Signing with \"{label}\" ({subject}), {mechanism}")
        }
        Signed { file, out } => format!("Signed {file}: detached signature written to {out}"),
        CmsFailed(e) => format!("Cannot build the signature file: {e}"),
        DemoNeedsModule => format!(
            "eimza demo needs the eimza PKCS#11 module ({}; `cargo build` puts it beside eimza), or --module PATH.",
            crate::token::MODULE_FILE
        ),
        DemoStep(step) => format!(
            "\n==> {}",
            match step {
                crate::i18n::DemoStep::Create => "1. A new software card, personalised like a real one".to_string(),
                crate::i18n::DemoStep::Status => "2. What the card says (eimza status)".into(),
                crate::i18n::DemoStep::Sign => "3. Sign a document (eimza sign)".into(),
                crate::i18n::DemoStep::Verify => "4. Verify the signature up to the card's root certificate (openssl cms -verify)".into(),
                crate::i18n::DemoStep::Change => "5. Change the PIN (eimza pin change)".into(),
                crate::i18n::DemoStep::Block(n) => format!("6.{n} A wrong PIN (try {n} of 3)"),
                crate::i18n::DemoStep::Unblock => "7. Unblock the PIN with the PUK (eimza pin unblock)".into(),
                crate::i18n::DemoStep::SignAgain => "8. Sign again with the new PIN".into(),
            }
        ),
        DemoCardCreated { dir, serial } => format!("Card file in {dir}, serial {serial}; the test PIN and PUK of the software card are typed for you (shown as *)."),
        DemoVerified => "The signature and its certificate chain verify.".into(),
        DemoVerifyFailed(e) => format!("The signature does NOT verify: {e}"),
        DemoNoOpenssl => "openssl is not installed: verification skipped.".into(),
        DemoUnexpected(step) => format!("The demo stopped: step {step} did not end as expected."),
        DemoDone => "\nDemo finished: the card was created, used, blocked and unblocked. Its folder is removed.".into(),
        Diagnose(m) => m.english(),
    }
}

fn turkish(msg: &Msg) -> String {
    use Msg::*;
    match msg {
        Help => crate::args::help(Lang::Turkish),
        Version => format!("eimza {}", env!("CARGO_PKG_VERSION")),
        UnknownCommand(c) => format!("bilinmeyen komut ya da seçenek: {c} (bkz. eimza --help)"),
        MissingValue(o) => format!("{o} bir değer ister (bkz. eimza --help)"),
        UnexpectedArgument(a) => format!("beklenmeyen argüman: {a} (bkz. eimza --help)"),
        BadSlotId(s) => format!("geçerli bir yuva numarası değil: {s}"),
        Usage(e) => format!("{e} (bkz. eimza --help)"),
        MissingSubcommand(c) => format!("eimza {c} bir komut ister (bkz. eimza {c} --help)"),
        MissingFile => "eimza sign imzalanacak DOSYA'yı ister".into(),
        ModuleNotFound(tried) => format!(
            "PKCS#11 modülü bulunamadı; --module YOL ile belirtin. Bakılan yerler:\n  {}",
            tried.join("\n  ")
        ),
        ModuleLoadFailed(p, e) => format!("PKCS#11 modülü {p} yüklenemedi: {e}"),
        ModuleError(e) => format!("PKCS#11 modülü bir hata bildirdi: {e}"),
        ModuleLine {
            path,
            description,
            manufacturer,
            version,
        } => {
            format!("Modül: {path} ({description}, {manufacturer}, sürüm {version})")
        }
        NoSlots => "Kart okuyucu (yuva) bulunamadı.".into(),
        NoCard => "Kart bulunamadı: kartınızı okuyucuya takın.".into(),
        SlotNotFound(id) => format!("{id} numaralı yuva yok."),
        SlotLine { id, description } => format!("Yuva {id}: {description}"),
        CardPresent => "  Kart: takılı".into(),
        CardAbsent => "  Kart: bu okuyucuda kart yok".into(),
        CardNotRecognized => "  Kart: takılı, ama bu modülün tanıdığı bir kart değil".into(),
        TokenNotInitialized => "  Kart: takılı, ama kişiselleştirilmemiş (boş)".into(),
        TokenLabel(l) => format!("  Kart etiketi: {l}"),
        TokenSerial(s) => format!("  Seri numarası: {s}"),
        TokenManufacturer(m) => format!("  Üretici: {m}"),
        TokenModel(m) => format!("  Model: {m}"),
        PinLengthRule(min, max) if min == max => format!("  PIN uzunluğu: {min} rakam"),
        PinLengthRule(min, max) => format!("  PIN uzunluğu: {min}–{max} rakam"),
        State(secret, state) => {
            let name = secret_name_tr(*secret);
            let text = match (secret, state) {
                (_, SecretState::NoWrongTries) => "son doğru girişten beri yanlış deneme yok",
                (_, SecretState::WrongTries) => {
                    "son doğru girişten beri yanlış deneme var; kalan deneme hakkı azaldı"
                }
                (Secret::Pin, SecretState::LastTry) => {
                    "SON DENEME — bir yanlış PIN daha kartı bloke eder"
                }
                (Secret::Puk, SecretState::LastTry) => {
                    "SON DENEME — bir yanlış PUK daha kartı kullanılamaz hâle getirir"
                }
                (Secret::Pin, SecretState::Blocked) => {
                    "BLOKE — PUK ile blokeyi kaldırın: eimza pin unblock"
                }
                (Secret::Puk, SecretState::Blocked) => "BLOKE — kartın yeniden çıkarılması gerekir",
                (_, SecretState::NotInitialized) => "bu kartta tanımlı değil",
            };
            format!("  {name}: {text}")
        }
        PinToBeChanged(secret) => format!(
            "  {}: kullanmadan önce değiştirilmeli (eimza pin change)",
            secret_name_tr(*secret)
        ),
        UsingToken(label) => format!("Kart: {label}"),
        CertHeader(label) => format!("  Sertifika \"{label}\""),
        CertSubject {
            cn,
            serial: Some(s),
        } => format!("    Sahibi: {cn} (seri numarası {s})"),
        CertSubject { cn, serial: None } => format!("    Sahibi: {cn}"),
        CertIssuer(cn) => format!("    Veren: {cn}"),
        CertValidity { from, to, validity } => {
            let state = match validity {
                Validity::Valid => "geçerli",
                Validity::Expired => "SÜRESİ DOLMUŞ",
                Validity::NotYetValid => "HENÜZ GEÇERLİ DEĞİL",
            };
            format!("    Geçerlilik: {from} – {to} ({state})")
        }
        CertKey {
            kind,
            bits: Some(b),
        } => format!("    Anahtar: {kind} {b} bit"),
        CertKey { kind, bits: None } => format!("    Anahtar: {kind}"),
        CertKeyUsage(uses) => format!("    Anahtar kullanımı: {}", uses.join(", ")),
        CertNoKeyUsage => "    Anahtar kullanımı: kısıtlanmamış (keyUsage uzantısı yok)".into(),
        CertUnreadable(e) => format!("    (bu sertifika okunamadı: {e})"),
        NoCertificates => "  Sertifikalar: yok".into(),
        PromptCurrentPin => "Mevcut PIN: ".into(),
        PromptNewPin => "Yeni PIN: ".into(),
        PromptNewPinAgain => "Yeni PIN (tekrar): ".into(),
        PromptPuk => "PUK: ".into(),
        PromptPin => "PIN: ".into(),
        ConfirmQuestion => "Devam edilsin mi? [e/H] ".into(),
        LastTryWarning(Secret::Pin) => {
            "Uyarı: bu son denemeniz; yanlış bir PIN kartı bloke eder.".into()
        }
        LastTryWarning(Secret::Puk) => {
            "Uyarı: bu son denemeniz; yanlış bir PUK kartı kullanılamaz hâle getirir.".into()
        }
        Cancelled => "İptal edildi; karta hiçbir şey gönderilmedi.".into(),
        EndOfInput => "PIN ya da yanıt beklenirken girdi bitti (dosya sonu).".into(),
        PinsDiffer => "Girilen iki yeni PIN farklı; hiçbir şey değiştirilmedi.".into(),
        PolicyLength { secret, min, max } if min == max => format!(
            "{} tam olarak {min} rakam olmalı; karta hiçbir şey gönderilmedi.",
            secret_name_tr(*secret)
        ),
        PolicyLength { secret, min, max } => format!(
            "{} {min}–{max} rakam olmalı; karta hiçbir şey gönderilmedi.",
            secret_name_tr(*secret)
        ),
        PolicyDigits(secret) => format!(
            "{} yalnızca rakamlardan oluşabilir; karta hiçbir şey gönderilmedi.",
            secret_name_tr(*secret)
        ),
        AlreadyBlocked(Secret::Pin) => {
            "PIN'iniz bloke. PUK ile blokeyi kaldırın: eimza pin unblock".into()
        }
        AlreadyBlocked(Secret::Puk) => {
            "PUK'unuz bloke; kartın, kartı veren kurum tarafından yeniden çıkarılması gerekir."
                .into()
        }
        Incorrect(secret, tries) => {
            let name = secret_name_tr(*secret);
            let rest = match (secret, tries) {
                (_, TriesLeft::Unknown) => "Modül kaç deneme hakkı kaldığını bildirmiyor.",
                (_, TriesLeft::SeveralLeft) => "Birden fazla deneme hakkınız kaldı.",
                (Secret::Pin, TriesLeft::OneLeft) => {
                    "Yalnızca BİR deneme hakkınız kaldı: bir sonraki yanlış PIN kartı bloke eder."
                }
                (Secret::Puk, TriesLeft::OneLeft) => {
                    "Yalnızca BİR deneme hakkınız kaldı: bir sonraki yanlış PUK kartı kullanılamaz hâle getirir."
                }
                (Secret::Pin, TriesLeft::NoneLeft) => {
                    "PIN artık BLOKE; PUK ile blokeyi kaldırın: eimza pin unblock"
                }
                (Secret::Puk, TriesLeft::NoneLeft) => {
                    "PUK artık BLOKE; kartın yeniden çıkarılması gerekir."
                }
            };
            format!("Yanlış {name}. {rest}")
        }
        BlockedNow(Secret::Pin) => "PIN BLOKE; PUK ile blokeyi kaldırın: eimza pin unblock".into(),
        BlockedNow(Secret::Puk) => "PUK BLOKE; kartın yeniden çıkarılması gerekir.".into(),
        ModuleRejectedLength(secret) => format!(
            "Kart {} uzunluğunu kabul etmedi; hiçbir şey değiştirilmedi.",
            secret_name_tr(*secret)
        ),
        PinChanged => "PIN'iniz değiştirildi.".into(),
        PinUnblocked => "PIN'inizin blokesi kaldırıldı ve yeni değer atandı.".into(),
        NotLoggedInAfterAll => "Kart girişi kabul etmedi.".into(),
        NoCertForLabel(l) => format!("Kartta \"{l}\" etiketli sertifika yok."),
        NoSigningKey(l) => format!("Kartta \"{l}\" sertifikasına ait özel anahtar yok."),
        UnsupportedKey(k) => format!("Bu anahtar türüyle imza atılamaz: {k}"),
        PssNeedsRsa => "--pss RSA anahtarları içindir; bu anahtar RSA değil.".into(),
        ReadFailed(p, e) => format!("{p} okunamadı: {e}"),
        WriteFailed(p, e) => format!("{p} yazılamadı: {e}"),
        SigningWith {
            label,
            subject,
            mechanism,
        } => {
            format!("\"{label}\" ile imzalanıyor ({subject}), {mechanism}")
        }
        Signed { file, out } => format!("{file} imzalandı: ayrık imza {out} dosyasına yazıldı"),
        CmsFailed(e) => format!("İmza dosyası oluşturulamadı: {e}"),
        DemoNeedsModule => format!(
            "eimza demo için eimza PKCS#11 modülü ({}; `cargo build` onu eimza'nın yanına koyar) ya da --module YOL gerekir.",
            crate::token::MODULE_FILE
        ),
        DemoStep(step) => format!(
            "\n==> {}",
            match step {
                crate::i18n::DemoStep::Create => "1. Gerçeği gibi kişiselleştirilmiş yeni bir yazılım kartı".to_string(),
                crate::i18n::DemoStep::Status => "2. Kartın söyledikleri (eimza status)".into(),
                crate::i18n::DemoStep::Sign => "3. Bir belge imzalama (eimza sign)".into(),
                crate::i18n::DemoStep::Verify => "4. İmzayı kartın kök sertifikasına kadar doğrulama (openssl cms -verify)".into(),
                crate::i18n::DemoStep::Change => "5. PIN değiştirme (eimza pin change)".into(),
                crate::i18n::DemoStep::Block(n) => format!("6.{n} Yanlış PIN (3 denemeden {n}.)"),
                crate::i18n::DemoStep::Unblock => "7. PUK ile PIN blokesini kaldırma (eimza pin unblock)".into(),
                crate::i18n::DemoStep::SignAgain => "8. Yeni PIN ile yeniden imzalama".into(),
            }
        ),
        DemoCardCreated { dir, serial } => format!("Kart dosyası {dir} içinde, seri numarası {serial}; yazılım kartının test PIN'i ve PUK'u sizin yerinize yazılır (* olarak gösterilir)."),
        DemoVerified => "İmza ve sertifika zinciri doğrulandı.".into(),
        DemoVerifyFailed(e) => format!("İmza DOĞRULANAMADI: {e}"),
        DemoNoOpenssl => "openssl kurulu değil: doğrulama atlandı.".into(),
        DemoUnexpected(step) => format!("Gösterim durdu: {step}. adım beklendiği gibi bitmedi."),
        DemoDone => "\nGösterim tamamlandı: kart oluşturuldu, kullanıldı, bloke edildi ve blokesi kaldırıldı. Klasörü silindi.".into(),
        Diagnose(m) => m.turkish(),
    }
}

fn secret_name_en(secret: Secret) -> &'static str {
    match secret {
        Secret::Pin => "PIN",
        Secret::Puk => "PUK",
    }
}

fn secret_name_tr(secret: Secret) -> &'static str {
    secret_name_en(secret)
}

/// Renders several messages as lines.
#[cfg(test)]
pub fn lines(msgs: &[Msg], lang: Lang) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for msg in msgs {
        let _ = writeln!(out, "{}", msg.text(lang));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn locale_precedence_follows_posix() {
        assert_eq!(
            Lang::from_vars(env(&[("LANG", "tr_TR.UTF-8")])),
            Lang::Turkish
        );
        assert_eq!(Lang::from_vars(env(&[("LANG", "C")])), Lang::English);
        assert_eq!(Lang::from_vars(env(&[])), Lang::English);
        // LC_ALL beats LANG, in both directions.
        assert_eq!(
            Lang::from_vars(env(&[("LC_ALL", "C"), ("LANG", "tr_TR.UTF-8")])),
            Lang::English
        );
        assert_eq!(
            Lang::from_vars(env(&[("LC_ALL", "tr_TR"), ("LANG", "en_US.UTF-8")])),
            Lang::Turkish
        );
        // An empty LC_ALL does not count.
        assert_eq!(
            Lang::from_vars(env(&[("LC_ALL", ""), ("LC_MESSAGES", "tr"), ("LANG", "C")])),
            Lang::Turkish
        );
    }

    #[test]
    fn pin_states_read_as_required() {
        let en = |m: Msg| m.text(Lang::English);
        assert_eq!(
            en(Msg::State(Secret::Pin, SecretState::NoWrongTries)),
            "  PIN: no wrong tries since the last correct one"
        );
        assert!(en(Msg::State(Secret::Pin, SecretState::LastTry)).contains("PIN: LAST TRY"));
        assert_eq!(
            en(Msg::State(Secret::Pin, SecretState::Blocked)),
            "  PIN: BLOCKED — unblock it with your PUK: eimza pin unblock"
        );
        assert_eq!(
            en(Msg::State(Secret::Puk, SecretState::Blocked)),
            "  PUK: BLOCKED — the card must be re-issued"
        );
        assert!(en(Msg::LastTryWarning(Secret::Pin))
            .contains("this is your last try; a wrong PIN blocks the card"));
        assert!(
            en(Msg::LastTryWarning(Secret::Puk)).contains("a wrong PUK makes the card unusable")
        );
    }

    #[test]
    fn turkish_uses_turkish_letters_and_differs_from_english() {
        let samples = [
            Msg::State(Secret::Pin, SecretState::Blocked),
            Msg::State(Secret::Puk, SecretState::LastTry),
            Msg::LastTryWarning(Secret::Pin),
            Msg::PinChanged,
            Msg::Incorrect(Secret::Pin, TriesLeft::OneLeft),
            Msg::PolicyLength {
                secret: Secret::Pin,
                min: 6,
                max: 6,
            },
            Msg::Help,
        ];
        for m in &samples {
            assert_ne!(m.text(Lang::English), m.text(Lang::Turkish), "{m:?}");
        }
        let tr = lines(&samples, Lang::Turkish);
        for letter in ['ş', 'ı', 'ğ', 'ü', 'ö', 'ç', 'İ'] {
            assert!(tr.contains(letter), "no {letter} in Turkish output");
        }
        assert!(Msg::State(Secret::Pin, SecretState::Blocked)
            .text(Lang::Turkish)
            .contains("BLOKE"));
    }

    #[test]
    fn help_documents_every_exit_code_in_both_languages() {
        for lang in [Lang::English, Lang::Turkish] {
            let help = Msg::Help.text(lang);
            for code in 0..=5 {
                assert!(
                    help.contains(&format!("\n  {code}  ")),
                    "{lang:?} help lacks {code}"
                );
            }
        }
    }
}
