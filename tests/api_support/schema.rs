//! The subset of JSON Schema that utoipa emits, for tests: a validator
//! (`type` with 3.1 type lists, `properties`, `required`,
//! `additionalProperties: false`, `enum`, `items`, `minimum`, `nullable`,
//! `oneOf`/`anyOf`/`allOf`, `$ref` into `components/schemas`) and a
//! generator of valid values from a seed. No validator crate: this is all
//! the API's document uses.

use serde_json::{json, Map, Value};

/// `#/components/schemas/Name` → that schema.
pub fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("unsupported $ref {r}"));
            let found = &doc["components"]["schemas"][name];
            assert!(!found.is_null(), "dangling $ref {r}");
            resolve(doc, found)
        }
        None => schema,
    }
}

/// Checks `value` against `schema`; the error names where it failed.
pub fn validate(doc: &Value, schema: &Value, value: &Value) -> Result<(), String> {
    check(doc, schema, value, "$")
}

fn check(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(doc, schema);
    if value.is_null() && schema.get("nullable") == Some(&Value::Bool(true)) {
        return Ok(());
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for part in all {
            check(doc, part, value, at)?;
        }
    }
    if let Some(one) = schema.get("oneOf").and_then(Value::as_array) {
        let errors: Vec<String> = one
            .iter()
            .filter_map(|s| check(doc, s, value, at).err())
            .collect();
        match one.len() - errors.len() {
            1 => {}
            0 => return Err(format!("{at}: matches no oneOf branch: {errors:?}")),
            n => return Err(format!("{at}: matches {n} oneOf branches")),
        }
    }
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
        if !any.iter().any(|s| check(doc, s, value, at).is_ok()) {
            return Err(format!("{at}: matches no anyOf branch"));
        }
    }
    if let Some(kinds) = schema.get("type") {
        let kinds: Vec<&str> = match kinds {
            Value::String(k) => vec![k.as_str()],
            Value::Array(ks) => ks.iter().filter_map(Value::as_str).collect(),
            other => return Err(format!("{at}: odd type {other}")),
        };
        if !kinds.iter().any(|k| is_of(value, k)) {
            return Err(format!("{at}: {value} is not {kinds:?}"));
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(value) {
            return Err(format!("{at}: {value} not in {options:?}"));
        }
    }
    if let (Some(min), Some(n)) = (
        schema.get("minimum").and_then(Value::as_f64),
        value.as_f64(),
    ) {
        if n < min {
            return Err(format!("{at}: {n} < minimum {min}"));
        }
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !object.contains_key(name) {
                return Err(format!("{at}: missing required {name:?}"));
            }
        }
        for (name, field) in object {
            match properties.and_then(|p| p.get(name)) {
                Some(s) => check(doc, s, field, &format!("{at}.{name}"))?,
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    return Err(format!("{at}: unexpected field {name:?}"))
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            check(doc, items, item, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

fn is_of(value: &Value, kind: &str) -> bool {
    match kind {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        _ => false,
    }
}

/// A small deterministic generator (SplitMix64), seeded by the fuzz case.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn word(&mut self) -> String {
        let len = 1 + self.below(12);
        (0..len)
            .map(|_| *self.pick(b"abcdefghijklmnopqrstuvwxyz0123456789_-") as char)
            .collect()
    }
}

/// A value valid for `schema`; `field` gives values for named string
/// fields (webhook URLs that stay on loopback, phone numbers, ...).
pub fn generate(
    doc: &Value,
    schema: &Value,
    rng: &mut Rng,
    field: &dyn Fn(&str, &mut Rng) -> Option<Value>,
) -> Value {
    let schema = resolve(doc, schema);
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        return rng.pick(options).clone();
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            return generate(doc, rng.pick(branches), rng, field);
        }
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        let mut merged = Map::new();
        for part in parts {
            if let Value::Object(o) = generate(doc, part, rng, field) {
                merged.extend(o);
            }
        }
        return Value::Object(merged);
    }
    let kinds: Vec<&str> = match schema.get("type") {
        Some(Value::String(k)) => vec![k.as_str()],
        Some(Value::Array(ks)) => ks.iter().filter_map(Value::as_str).collect(),
        _ => vec!["object"],
    };
    // Null only now and then, so the other branch gets exercised.
    let kind = match kinds.iter().find(|k| **k != "null") {
        Some(k) if !(kinds.contains(&"null") && rng.chance(20)) => *k,
        _ => "null",
    };
    match kind {
        "null" => Value::Null,
        "boolean" => Value::Bool(rng.chance(50)),
        "integer" => json!(rng.below(1000)),
        "number" => json!(rng.below(1000) as f64 / 10.0),
        "string" => Value::String(rng.word()),
        "array" => {
            let items = schema.get("items").cloned().unwrap_or(json!({}));
            let n = rng.below(4);
            Value::Array((0..n).map(|_| generate(doc, &items, rng, field)).collect())
        }
        _ => {
            let mut object = Map::new();
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (name, s) in properties {
                    if required.contains(&name.as_str()) || rng.chance(60) {
                        let value =
                            field(name, rng).unwrap_or_else(|| generate(doc, s, rng, field));
                        object.insert(name.clone(), value);
                    }
                }
            }
            Value::Object(object)
        }
    }
}
