//! The C signatures the driver can call: owns the types of the one argument and the result of a
//! `foreign export ccall` the driver passes and checks (`Int`, `CInt`, `Word`, `Double`), their
//! spellings in Haskell and in GHC's generated `*_stub.h` (`HsInt`, `HsInt32`, `HsWord`,
//! `HsDouble`, from GHC's `HsFFI.h`), and a typed value of one of them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A C type the driver can pass as the argument or take as the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CType {
    /// Haskell `Int`, C `HsInt` (`int64_t` on 64-bit targets).
    Int,
    /// Haskell `CInt`, C `HsInt32`.
    CInt,
    /// Haskell `Word`, C `HsWord` (`uint64_t`).
    Word,
    /// Haskell `Double`, C `HsDouble`.
    Double,
}

impl CType {
    pub const ALL: [CType; 4] = [CType::Int, CType::CInt, CType::Word, CType::Double];

    /// The Haskell type name (`Int`, `CInt`, `Word`, `Double`).
    pub const fn haskell(self) -> &'static str {
        match self {
            CType::Int => "Int",
            CType::CInt => "CInt",
            CType::Word => "Word",
            CType::Double => "Double",
        }
    }

    /// The C type GHC's stub declares for it (`HsFFI.h`).
    pub const fn c_name(self) -> &'static str {
        match self {
            CType::Int => "HsInt",
            CType::CInt => "HsInt32",
            CType::Word => "HsWord",
            CType::Double => "HsDouble",
        }
    }

    /// The type a stub's C spelling denotes: `HsInt`/`HsInt64`, `HsInt32`, `HsWord`/`HsWord64`,
    /// `HsDouble` (the 64-bit aliases are the same types on the 64-bit targets GHC's RTS runs here).
    pub fn from_c_name(name: &str) -> Option<CType> {
        match name {
            "HsInt" | "HsInt64" => Some(CType::Int),
            "HsInt32" => Some(CType::CInt),
            "HsWord" | "HsWord64" => Some(CType::Word),
            "HsDouble" => Some(CType::Double),
            _ => None,
        }
    }

    fn from_haskell(name: &str) -> Option<CType> {
        CType::ALL.into_iter().find(|t| t.haskell() == name)
    }

    /// Parse a value of this type (`-3`, `7`, `2.5`).
    pub fn parse_value(self, s: &str) -> Result<Value, String> {
        let s = s.trim();
        let bad = |e: &dyn fmt::Display| format!("{s:?} is not a {}: {e}", self.haskell());
        match self {
            CType::Int => s.parse().map(Value::Int).map_err(|e| bad(&e)),
            CType::CInt => s.parse().map(Value::CInt).map_err(|e| bad(&e)),
            CType::Word => s.parse().map(Value::Word).map_err(|e| bad(&e)),
            CType::Double => s.parse().map(Value::Double).map_err(|e| bad(&e)),
        }
    }
}

/// One argument, one result: `Int -> IO Int`, `Double -> IO CInt`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Signature {
    pub arg: CType,
    pub ret: CType,
}

impl Signature {
    /// `Int -> IO Int`: the project's `foo`, and every rts-core `c_function`.
    pub const INT_TO_INT: Signature = Signature {
        arg: CType::Int,
        ret: CType::Int,
    };

    /// Parse `Int -> IO Int` or `Int -> Int` (the C function is the same for both).
    pub fn parse(s: &str) -> Result<Signature, String> {
        let words: Vec<&str> = s.split_whitespace().collect();
        let (arg, ret) = match words[..] {
            [a, "->", "IO", r] | [a, "->", r] => (a, r),
            _ => {
                return Err(format!(
                    "signature {s:?}: expected `T -> IO T` with one argument, T one of {}",
                    type_list()
                ));
            }
        };
        let ty = |t: &str| {
            CType::from_haskell(t).ok_or_else(|| {
                format!(
                    "signature {s:?}: the driver passes {}, not {t}",
                    type_list()
                )
            })
        };
        Ok(Signature {
            arg: ty(arg)?,
            ret: ty(ret)?,
        })
    }

    /// The C declaration of `name` with this signature, as GHC's stub spells it.
    pub fn c_declaration(&self, name: &str) -> String {
        format!("{} {name}({})", self.ret.c_name(), self.arg.c_name())
    }
}

/// `Int, CInt, Word or Double`.
pub fn type_list() -> String {
    callin_vocab::one_of(&CType::ALL.map(CType::haskell))
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> IO {}", self.arg.haskell(), self.ret.haskell())
    }
}

/// A value of one of the [`CType`]s.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Value {
    Int(i64),
    CInt(i32),
    Word(u64),
    Double(f64),
}

impl Value {
    pub fn ctype(self) -> CType {
        match self {
            Value::Int(_) => CType::Int,
            Value::CInt(_) => CType::CInt,
            Value::Word(_) => CType::Word,
            Value::Double(_) => CType::Double,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(v) => write!(f, "{v}"),
            Value::CInt(v) => write!(f, "{v}"),
            Value::Word(v) => write!(f, "{v}"),
            Value::Double(v) => write!(f, "{v:?}"),
        }
    }
}

/// A Rust type that is one of the [`CType`]s: what the driver's call loop is generic over.
pub trait CValue: Copy + Send + Sync + 'static {
    const TYPE: CType;
    /// The value as a [`Value`] (for results and wrong-result reports).
    fn value(self) -> Value;
    /// This type's payload of `v`, `None` when `v` has another type.
    fn of(v: Value) -> Option<Self>;
    /// Identical results: equal bits (so a `Double` NaN equals itself and -0.0 is not 0.0).
    fn same(self, other: Self) -> bool;
}

macro_rules! c_value {
    ($t:ty, $variant:ident, $same:expr) => {
        impl CValue for $t {
            const TYPE: CType = CType::$variant;
            fn value(self) -> Value {
                Value::$variant(self)
            }
            fn of(v: Value) -> Option<$t> {
                match v {
                    Value::$variant(x) => Some(x),
                    _ => None,
                }
            }
            #[inline(always)]
            fn same(self, other: $t) -> bool {
                $same(self, other)
            }
        }
    };
}

c_value!(i64, Int, |a: i64, b: i64| a == b);
c_value!(i32, CInt, |a: i32, b: i32| a == b);
c_value!(u64, Word, |a: u64, b: u64| a == b);
c_value!(f64, Double, |a: f64, b: f64| a.to_bits() == b.to_bits());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_parse_in_both_haskell_forms_and_name_bad_types() {
        let s = Signature::parse("Double -> IO CInt").unwrap();
        assert_eq!((s.arg, s.ret), (CType::Double, CType::CInt));
        assert_eq!(Signature::parse("Int -> Int"), Ok(Signature::INT_TO_INT));
        assert_eq!(s.to_string(), "Double -> IO CInt");
        assert_eq!(s.c_declaration("f"), "HsInt32 f(HsDouble)");
        let e = Signature::parse("Float -> IO Int").unwrap_err();
        assert!(e.contains("not Float"), "{e}");
        let e = Signature::parse("Int -> Int -> IO Int").unwrap_err();
        assert!(e.contains("one argument"), "{e}");
    }

    #[test]
    fn values_parse_per_type_and_compare_by_bits() {
        assert_eq!(CType::CInt.parse_value("-3"), Ok(Value::CInt(-3)));
        assert!(CType::Word.parse_value("-3").is_err());
        assert_eq!(CType::Double.parse_value("2.5"), Ok(Value::Double(2.5)));
        assert!(f64::NAN.same(f64::NAN));
        assert!(!0.0f64.same(-0.0));
        assert_eq!(CType::from_c_name("HsInt64"), Some(CType::Int));
        assert_eq!(CType::from_c_name("HsFloat"), None);
    }
}
