//! PIN and PUK rules, checked before anything reaches the card so that a typing
//! mistake in a new PIN never costs a try.

use crate::i18n::{Msg, Secret, SecretState, TriesLeft};

/// The PUK of an e-imza card: exactly 8 digits (pkcs11-spec.md §1.4, VERIFY 82).
pub const PUK_LENGTH: usize = 8;

/// Length range and character rule for one secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    pub secret: Secret,
    pub min: usize,
    pub max: usize,
}

impl Policy {
    /// The user PIN rule from `CK_TOKEN_INFO.ulMinPinLen/ulMaxPinLen`. A module that
    /// reports nonsense (min > max, or 0) gets the widest digits-only reading rather
    /// than a rule nobody could satisfy.
    pub fn user_pin(min_len: usize, max_len: usize) -> Policy {
        let min = min_len.max(1);
        let max = if max_len < min { usize::MAX } else { max_len };
        Policy {
            secret: Secret::Pin,
            min,
            max,
        }
    }

    pub fn puk() -> Policy {
        Policy {
            secret: Secret::Puk,
            min: PUK_LENGTH,
            max: PUK_LENGTH,
        }
    }

    /// `Ok` if `value` may be sent to the card; otherwise the message saying why not.
    pub fn check(&self, value: &str) -> Result<(), Msg> {
        if !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Msg::PolicyDigits(self.secret));
        }
        // Digits only, so bytes == characters.
        if value.len() < self.min || value.len() > self.max {
            return Err(Msg::PolicyLength {
                secret: self.secret,
                min: self.min,
                max: self.max,
            });
        }
        Ok(())
    }
}

/// The counter flags of one secret, as `CK_TOKEN_INFO.flags` reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterFlags {
    pub initialized: bool,
    pub count_low: bool,
    pub final_try: bool,
    pub locked: bool,
    pub to_be_changed: bool,
}

impl CounterFlags {
    pub fn user(info: &cryptoki::slot::TokenInfo) -> CounterFlags {
        CounterFlags {
            initialized: info.user_pin_initialized(),
            count_low: info.user_pin_count_low(),
            final_try: info.user_pin_final_try(),
            locked: info.user_pin_locked(),
            to_be_changed: info.user_pin_to_be_changed(),
        }
    }

    pub fn so(info: &cryptoki::slot::TokenInfo) -> CounterFlags {
        CounterFlags {
            // PKCS#11 has no "SO PIN initialized" flag: a token has an SO PIN.
            initialized: true,
            count_low: info.so_pin_count_low(),
            final_try: info.so_pin_final_try(),
            locked: info.so_pin_locked(),
            to_be_changed: info.so_pin_to_be_changed(),
        }
    }

    /// The state in words for `eimza status`; the most severe flag wins.
    pub fn state(&self) -> SecretState {
        if self.locked {
            SecretState::Blocked
        } else if !self.initialized {
            SecretState::NotInitialized
        } else if self.final_try {
            SecretState::LastTry
        } else if self.count_low {
            SecretState::WrongTries
        } else {
            SecretState::NoWrongTries
        }
    }

    /// What remains after a wrong attempt, read from the flags the module reports
    /// afterwards. No flag at all means the module keeps no visible counter.
    pub fn tries_left(&self) -> TriesLeft {
        if self.locked {
            TriesLeft::NoneLeft
        } else if self.final_try {
            TriesLeft::OneLeft
        } else if self.count_low {
            TriesLeft::SeveralLeft
        } else {
            TriesLeft::Unknown
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn length(secret: Secret, min: usize, max: usize) -> Msg {
        Msg::PolicyLength { secret, min, max }
    }

    #[test]
    fn user_pin_policy_from_token_lengths() {
        let p = Policy::user_pin(6, 6);
        assert_eq!(p.check("123456"), Ok(()));
        assert_eq!(
            p.check("12345"),
            Err(Msg::PolicyLength {
                secret: Secret::Pin,
                min: 6,
                max: 6
            })
        );
        assert_eq!(
            p.check("1234567"),
            Err(Msg::PolicyLength {
                secret: Secret::Pin,
                min: 6,
                max: 6
            })
        );
        assert_eq!(p.check("12a456"), Err(Msg::PolicyDigits(Secret::Pin)));
        assert_eq!(p.check("12 456"), Err(Msg::PolicyDigits(Secret::Pin)));
        // Non-ASCII digits (Arabic-Indic) are not card digits.
        assert_eq!(p.check("١٢٣٤٥٦"), Err(Msg::PolicyDigits(Secret::Pin)));
        assert_eq!(p.check(""), Err(length(Secret::Pin, 6, 6)));
    }

    #[test]
    fn range_policy_accepts_both_ends() {
        let p = Policy::user_pin(4, 8);
        assert_eq!(p.check("1234"), Ok(()));
        assert_eq!(p.check("12345678"), Ok(()));
        assert_eq!(p.check("123"), Err(length(Secret::Pin, 4, 8)));
        assert_eq!(p.check("123456789"), Err(length(Secret::Pin, 4, 8)));
    }

    #[test]
    fn nonsense_token_lengths_do_not_lock_out_the_user() {
        let p = Policy::user_pin(0, 0);
        assert_eq!(p.check("1"), Ok(()));
        assert_eq!(p.check(""), Err(length(Secret::Pin, 1, usize::MAX)));
        let p = Policy::user_pin(6, 4);
        assert_eq!(p.check("123456789012"), Ok(()));
        assert_eq!(p.check("12345"), Err(length(Secret::Pin, 6, usize::MAX)));
    }

    #[test]
    fn puk_is_exactly_eight_digits() {
        let p = Policy::puk();
        assert_eq!(p.check("12345678"), Ok(()));
        assert_eq!(
            p.check("1234567"),
            Err(Msg::PolicyLength {
                secret: Secret::Puk,
                min: 8,
                max: 8
            })
        );
        assert_eq!(p.check("123456789"), Err(length(Secret::Puk, 8, 8)));
        assert_eq!(p.check("1234567x"), Err(Msg::PolicyDigits(Secret::Puk)));
    }

    #[test]
    fn most_severe_flag_decides_the_state() {
        let ok = CounterFlags {
            initialized: true,
            ..Default::default()
        };
        assert_eq!(ok.state(), SecretState::NoWrongTries);
        assert_eq!(ok.tries_left(), TriesLeft::Unknown);
        let low = CounterFlags {
            count_low: true,
            ..ok
        };
        assert_eq!(low.state(), SecretState::WrongTries);
        assert_eq!(low.tries_left(), TriesLeft::SeveralLeft);
        // Modules often set COUNT_LOW together with FINAL_TRY.
        let last = CounterFlags {
            final_try: true,
            ..low
        };
        assert_eq!(last.state(), SecretState::LastTry);
        assert_eq!(last.tries_left(), TriesLeft::OneLeft);
        let locked = CounterFlags {
            locked: true,
            ..last
        };
        assert_eq!(locked.state(), SecretState::Blocked);
        assert_eq!(locked.tries_left(), TriesLeft::NoneLeft);
        let unset = CounterFlags::default();
        assert_eq!(unset.state(), SecretState::NotInitialized);
    }
}
