use super::{check_err, check_str, ok};

#[test]
fn hashes() {
    check_str(r#"md5("hello world")"#, "5eb63bbbe01eeed093cb22bb8f5acdc3");
    check_str(
        r#"sha1("hello world")"#,
        "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed",
    );
    check_str(
        r#"sha256("hello world")"#,
        "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9",
    );
    check_str(
        r#"sha512("hello world")"#,
        "309ecc489c12d6eb4cc40f50c902f2b4d0ed77ee511a7c7a9bcd3ca86d4cd86f\
         989dd35bc5ff499670da34255b45b0cfd830e81f605dcf7dc5542e93ae9cd76f",
    );
}

#[test]
fn bcrypt() {
    let hash = ok(r#"bcrypt("hello world")"#);
    let hash = hash.as_str().expect("a string");
    assert!(hash.starts_with("$2a$10$") && hash.len() == 60, "{hash}");
    assert!(bcrypt::verify("hello world", hash).expect("verifies"));
    let cheap = ok(r#"bcrypt("hello world", 4)"#);
    assert!(cheap.as_str().is_some_and(|h| h.starts_with("$2a$04$")));
    check_err(r#"bcrypt("x", 32)"#, &["\"cost\""]);
    check_err(r#"bcrypt("x", 4, 5)"#, &["no more than two arguments"]);
}

#[test]
fn uuids() {
    let v4 = ok("uuidv4()");
    let v4 = uuid::Uuid::parse_str(v4.as_str().expect("a string")).expect("a UUID");
    assert_eq!(v4.get_version_num(), 4);
    // Terraform's documentation prints ...-82b6c5d92ae6 for this one; every UUIDv5
    // implementation (Python's uuid module, Go's google/uuid) gives ...-82b4c53552d6.
    check_str(
        r#"uuidv5("dns", "www.terraform.io")"#,
        "a5008fae-b28c-5ba5-96cd-82b4c53552d6",
    );
    check_str(
        r#"uuidv5("url", "https://www.terraform.io/")"#,
        "9db6f67c-dd95-5ea0-aa5b-e70e5c5f7cf5",
    );
    check_str(
        r#"uuidv5("oid", "1.3.6.1.4")"#,
        "af9d40a5-7a36-5c07-b23a-851cd99fbfa5",
    );
    check_str(
        r#"uuidv5("x500", "CN=Example,C=GB")"#,
        "84e09961-4aa4-57f8-95b7-03edb1073253",
    );
    check_str(
        r#"uuidv5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "www.terraform.io")"#,
        "a5008fae-b28c-5ba5-96cd-82b4c53552d6",
    );
    check_err(
        r#"uuidv5("nope", "x")"#,
        &["doesn't support namespace nope"],
    );
}
