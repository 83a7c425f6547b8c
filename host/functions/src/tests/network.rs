use super::{check, check_err, check_str};

#[test]
fn cidrhost() {
    check_str(r#"cidrhost("10.12.112.0/20", 16)"#, "10.12.112.16");
    check_str(r#"cidrhost("10.12.112.0/20", 268)"#, "10.12.113.12");
    check_str(
        r#"cidrhost("fd00:fd12:3456:7890:00a2::/72", 34)"#,
        "fd00:fd12:3456:7890::22",
    );
    check_str(r#"cidrhost("10.0.0.0/30", -1)"#, "10.0.0.3");
    check_str(r#"cidrhost("10.0.0.0/30", -4)"#, "10.0.0.0");
    check_err(
        r#"cidrhost("10.0.0.0/30", 4)"#,
        &["prefix of 30 does not accommodate a host numbered 4"],
    );
    check_err(
        r#"cidrhost("10.0.0.0/30", -5)"#,
        &["does not accommodate a host numbered -5"],
    );
    check_err(r#"cidrhost("10.0.0.0", 1)"#, &["invalid CIDR expression"]);
    check_err(
        r#"cidrhost("10.0.0.0/33", 1)"#,
        &["invalid CIDR expression"],
    );
}

#[test]
fn cidrnetmask() {
    check_str(r#"cidrnetmask("172.16.0.0/12")"#, "255.240.0.0");
    check_str(r#"cidrnetmask("10.0.0.0/32")"#, "255.255.255.255");
    check_str(r#"cidrnetmask("10.0.0.0/0")"#, "0.0.0.0");
    check_str(r#"cidrnetmask("fd00::/16")"#, "ffff::");
}

#[test]
fn cidrsubnet() {
    check_str(r#"cidrsubnet("172.16.0.0/12", 4, 2)"#, "172.18.0.0/16");
    check_str(r#"cidrsubnet("10.1.2.0/24", 4, 15)"#, "10.1.2.240/28");
    check_str(
        r#"cidrsubnet("fd00:fd12:3456:7890::/56", 16, 162)"#,
        "fd00:fd12:3456:7800:a200::/72",
    );
    check_err(
        r#"cidrsubnet("10.1.2.0/24", 4, 16)"#,
        &["prefix extension of 4 does not accommodate a subnet numbered 16"],
    );
    check_err(
        r#"cidrsubnet("10.1.2.0/24", 9, 0)"#,
        &["insufficient address space to extend prefix of 24 by 9"],
    );
    check_err(r#"cidrsubnet("fd00::/56", 33, 0)"#, &["more than 32 bits"]);
}

#[test]
fn cidrsubnets() {
    check(
        r#"cidrsubnets("10.1.0.0/16", 4, 4, 8, 4)"#,
        r#"["10.1.0.0/20", "10.1.16.0/20", "10.1.32.0/24", "10.1.48.0/20"]"#,
    );
    check(
        r#"cidrsubnets("fd00:fd12:3456:7890::/56", 16, 16, 16, 32)"#,
        r#"[
            "fd00:fd12:3456:7800::/72", "fd00:fd12:3456:7800:100::/72",
            "fd00:fd12:3456:7800:200::/72", "fd00:fd12:3456:7800:300::/88",
        ]"#,
    );
    check(r#"cidrsubnets("10.0.0.0/8")"#, "[]");
    check_err(r#"cidrsubnets("10.0.0.0/30", 1, 1, 1)"#, &["not enough remaining address space for a subnet with a prefix of 31 bits after 10.0.0.2/31"]);
    check_err(r#"cidrsubnets("10.0.0.0/30", 0)"#, &["at least one bit"]);
    check_err(
        r#"cidrsubnets("10.0.0.0/30", 3)"#,
        &["would extend prefix to 33 bits, which is too long for an IPv4 address"],
    );
}
