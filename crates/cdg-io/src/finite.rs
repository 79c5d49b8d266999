//! Finding a non-finite number in a report row before it reaches a file: a serde serializer
//! that walks a value and remembers the first `f32`/`f64` that is NaN or infinite, with the
//! name of the field that holds it (the CSV column).
//!
//! ```
//! #[derive(serde::Serialize)]
//! struct Row { layer: &'static str, energy_pj: f64 }
//! let bad = Row { layer: "conv1", energy_pj: f64::INFINITY };
//! assert_eq!(cdg_io::finite::first_non_finite(&bad), Some(("energy_pj".to_owned(), f64::INFINITY)));
//! assert_eq!(cdg_io::finite::first_non_finite(&Row { layer: "x", energy_pj: 1.0 }), None);
//! ```

use serde::Serialize;
use serde::ser::{self, Impossible};
use std::fmt;

/// The first non-finite number in `value` and the name of its field (`""` outside a struct);
/// `None` when every number is finite.
pub fn first_non_finite<T: Serialize + ?Sized>(value: &T) -> Option<(String, f64)> {
    let mut finder = Finder {
        field: String::new(),
        found: None,
    };
    // The finder's only error is the one that stops it at the first hit.
    let _ = value.serialize(&mut finder);
    finder.found
}

struct Finder {
    field: String,
    found: Option<(String, f64)>,
}

#[derive(Debug)]
struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stop")
    }
}

impl std::error::Error for Stop {}

impl ser::Error for Stop {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Stop
    }
}

impl Finder {
    fn float(&mut self, v: f64) -> Result<(), Stop> {
        if v.is_finite() {
            Ok(())
        } else {
            self.found = Some((self.field.clone(), v));
            Err(Stop)
        }
    }
}

macro_rules! ignore {
    ($($name:ident: $ty:ty),*) => {
        $(fn $name(self, _: $ty) -> Result<(), Stop> { Ok(()) })*
    };
}

impl ser::Serializer for &mut Finder {
    type Ok = ();
    type Error = Stop;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    ignore!(serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
            serialize_i64: i64, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
            serialize_u64: u64, serialize_char: char, serialize_str: &str,
            serialize_bytes: &[u8], serialize_unit_struct: &'static str);

    fn serialize_f32(self, v: f32) -> Result<(), Stop> {
        self.float(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), Stop> {
        self.float(v)
    }
    fn serialize_none(self) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Stop> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), Stop> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        v: &T,
    ) -> Result<(), Stop> {
        v.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, Stop> {
        Ok(self)
    }
}

macro_rules! elements {
    ($($tr:ident :: $method:ident),*) => {
        $(impl<'a> ser::$tr for &'a mut Finder {
            type Ok = ();
            type Error = Stop;
            fn $method<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Stop> {
                v.serialize(&mut **self)
            }
            fn end(self) -> Result<(), Stop> {
                Ok(())
            }
        })*
    };
}

elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for &mut Finder {
    type Ok = ();
    type Error = Stop;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Stop> {
        self.field = key.serialize(KeyName).unwrap_or_default();
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Stop> {
        v.serialize(&mut **self)
    }
    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}

macro_rules! fields {
    ($($tr:ident),*) => {
        $(impl<'a> ser::$tr for &'a mut Finder {
            type Ok = ();
            type Error = Stop;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                v: &T,
            ) -> Result<(), Stop> {
                self.field = key.to_owned();
                v.serialize(&mut **self)
            }
            fn end(self) -> Result<(), Stop> {
                Ok(())
            }
        })*
    };
}

fields!(SerializeStruct, SerializeStructVariant);

/// A map key as text (string keys only; others give no name).
struct KeyName;

impl ser::Serializer for KeyName {
    type Ok = String;
    type Error = Stop;
    type SerializeSeq = Impossible<String, Stop>;
    type SerializeTuple = Impossible<String, Stop>;
    type SerializeTupleStruct = Impossible<String, Stop>;
    type SerializeTupleVariant = Impossible<String, Stop>;
    type SerializeMap = Impossible<String, Stop>;
    type SerializeStruct = Impossible<String, Stop>;
    type SerializeStructVariant = Impossible<String, Stop>;

    fn serialize_str(self, v: &str) -> Result<String, Stop> {
        Ok(v.to_owned())
    }
    fn serialize_bool(self, _: bool) -> Result<String, Stop> {
        Err(Stop)
    }
    fn serialize_i8(self, _: i8) -> Result<String, Stop> {
        Err(Stop)
    }
    fn serialize_i16(self, _: i16) -> Result<String, Stop> {
        Err(Stop)
    }
    fn serialize_i32(self, _: i32) -> Result<String, Stop> {
        Err(Stop)
    }
    fn serialize_i64(self, _: i64) -> Result<String, Stop> {
        Err(Stop)
    }
    fn serialize_u8(self, _: u8) -> Result<String, Stop> {
        Err(Stop)
    }
    fn serialize_u16(self, _: u16) -> Result<String, Stop> {
        Err(Stop)
    }
    fn serialize_u32(self, _: u32) -> Result<String, Stop> {
        Err(Stop)
    }
    fn serialize_u64(self, _: u64) -> Result<String, Stop> {
        Err(Stop)
    }
    fn serialize_f32(self, _: f32) -> Result<String, Stop> {
        Err(Stop)
    }
    fn serialize_f64(self, _: f64) -> Result<String, Stop> {
        Err(Stop)
    }
    fn serialize_char(self, _: char) -> Result<String, Stop> {
        Err(Stop)
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<String, Stop> {
        Err(Stop)
    }
    fn serialize_none(self) -> Result<String, Stop> {
        Err(Stop)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<String, Stop> {
        Err(Stop)
    }
    fn serialize_unit(self) -> Result<String, Stop> {
        Err(Stop)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<String, Stop> {
        Err(Stop)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        v: &'static str,
    ) -> Result<String, Stop> {
        Ok(v.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<String, Stop> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String, Stop> {
        Err(Stop)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Stop> {
        Err(Stop)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Stop> {
        Err(Stop)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Stop> {
        Err(Stop)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Stop> {
        Err(Stop)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Stop> {
        Err(Stop)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Stop> {
        Err(Stop)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Stop> {
        Err(Stop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Serialize)]
    struct Inner {
        a: f32,
        b: Option<f64>,
    }

    #[derive(Serialize)]
    struct Row {
        name: String,
        n: u64,
        #[serde(flatten)]
        inner: Inner,
        list: Vec<f64>,
    }

    #[test]
    fn names_the_field_of_the_first_non_finite_number() {
        let row = |a: f32, b: Option<f64>, list: Vec<f64>| Row {
            name: "x".into(),
            n: 3,
            inner: Inner { a, b },
            list,
        };
        assert_eq!(first_non_finite(&row(1.0, Some(2.0), vec![1.0])), None);
        assert_eq!(first_non_finite(&row(1.0, None, vec![])), None);
        let (f, v) = first_non_finite(&row(f32::NAN, None, vec![])).unwrap();
        assert_eq!(f, "a");
        assert!(v.is_nan());
        assert_eq!(
            first_non_finite(&row(1.0, Some(f64::NEG_INFINITY), vec![])),
            Some(("b".into(), f64::NEG_INFINITY))
        );
        assert_eq!(
            first_non_finite(&row(1.0, None, vec![0.0, f64::INFINITY])),
            Some(("list".into(), f64::INFINITY))
        );
        let map: BTreeMap<&str, f64> = [("ok", 1.0), ("bad", f64::NAN)].into();
        assert_eq!(first_non_finite(&map).unwrap().0, "bad");
        assert_eq!(
            first_non_finite(&(1.0f64, f64::INFINITY)),
            Some((String::new(), f64::INFINITY))
        );
    }
}
