use super::{check, check_err, check_str};

#[test]
fn chunklist_coalesce_compact_concat() {
    check(
        r#"chunklist(["a", "b", "c", "d", "e"], 2)"#,
        r#"[["a", "b"], ["c", "d"], ["e"]]"#,
    );
    check(r#"chunklist(["a", "b"], 0)"#, r#"[["a", "b"]]"#);
    check_err(
        r#"chunklist(["a"], -1)"#,
        &["size argument must be positive"],
    );
    check_str(r#"coalesce("a", "b")"#, "a");
    check_str(r#"coalesce("", "b")"#, "b");
    check(r#"coalesce(1, 2)"#, "1");
    check(r#"coalesce(null, 2)"#, "2");
    check_str(r#"coalesce(["", "b"]...)"#, "b");
    check_str(r#"coalesce(1, "hello")"#, "1");
    check_err(
        r#"coalesce(null, "")"#,
        &["no non-null, non-empty-string arguments"],
    );
    check_err(
        r#"coalesce([1], "a")"#,
        &["all arguments must have the same type"],
    );
    check(r#"coalescelist(["a", "b"], ["c", "d"])"#, r#"["a", "b"]"#);
    check(r#"coalescelist([], ["c", "d"])"#, r#"["c", "d"]"#);
    check(
        r#"compact(["a", "", "b", null, "c"])"#,
        r#"["a", "b", "c"]"#,
    );
    check(r#"concat(["a", ""], ["b", "c"])"#, r#"["a", "", "b", "c"]"#);
    check_err(
        r#"concat(["a"], "b")"#,
        &["all arguments must be lists or tuples"],
    );
}

#[test]
fn contains_distinct_element_flatten_index() {
    check(r#"contains(["a", "b", "c"], "a")"#, "true");
    check(r#"contains(["a", "b", "c"], "d")"#, "false");
    check(r#"contains([1, 2], 2.0)"#, "true");
    check(
        r#"distinct(["a", "b", "a", "c", "d", "b"])"#,
        r#"["a", "b", "c", "d"]"#,
    );
    check_str(r#"element(["a", "b", "c"], 1)"#, "b");
    check_str(r#"element(["a", "b", "c"], 3)"#, "a");
    check_str(
        r#"element(["a", "b", "c"], length(["a", "b", "c"])-1)"#,
        "c",
    );
    check_err(r#"element(["a", "b", "c"], -1)"#, &["negative index"]);
    check_err(
        r#"element([], 0)"#,
        &["cannot use element function with an empty list"],
    );
    check(r#"flatten([["a", "b"], [], ["c"]])"#, r#"["a", "b", "c"]"#);
    check(
        r#"flatten([[["a", "b"], []], ["c"]])"#,
        r#"["a", "b", "c"]"#,
    );
    check(r#"index(["a", "b", "c"], "b")"#, "1");
    check_err(r#"index(["a"], "z")"#, &["item not found"]);
}

#[test]
fn maps() {
    check(r#"keys({a = 1, c = 2, d = 3})"#, r#"["a", "c", "d"]"#);
    check(r#"keys({d = 1, a = 2})"#, r#"["a", "d"]"#);
    check(r#"values({a = 3, c = 2, d = 1})"#, "[3, 2, 1]");
    check(r#"values({d = 1, a = 2})"#, "[2, 1]");
    check_str(r#"lookup({a = "ay", b = "bee"}, "a", "what?")"#, "ay");
    check_str(r#"lookup({a = "ay", b = "bee"}, "c", "what?")"#, "what?");
    check_err(r#"lookup({a = "ay"}, "c")"#, &["no attribute \"c\""]);
    check(
        r#"merge({a = "b", c = "d"}, {e = "f", c = "z"})"#,
        r#"{a = "b", c = "z", e = "f"}"#,
    );
    check(r#"merge({a = "b"}, null)"#, r#"{a = "b"}"#);
    check_err(
        r#"merge({a = 1}, "x")"#,
        &["arguments must be maps or objects"],
    );
    check(r#"zipmap(["a", "b"], [1, 2])"#, "{a = 1, b = 2}");
    check_err(
        r#"zipmap(["a"], [1, 2])"#,
        &["number of keys (1) does not match number of values (2)"],
    );
}

#[test]
fn length() {
    check("length([])", "0");
    check(r#"length(["a", "b"])"#, "2");
    check(r#"length({"a" = "b"})"#, "1");
    check(r#"length("hello")"#, "5");
    check(r#"length("👾🕹️")"#, "2");
    check_err(
        "length(5)",
        &["must be a string, a collection type, or a structural type"],
    );
}

#[test]
fn range() {
    check("range(3)", "[0, 1, 2]");
    check("range(1, 4)", "[1, 2, 3]");
    check("range(1, 8, 2)", "[1, 3, 5, 7]");
    check("range(1, 4, 0.5)", "[1, 1.5, 2, 2.5, 3, 3.5]");
    check("range(4, 1)", "[4, 3, 2]");
    check("range(10, 5, -2)", "[10, 8, 6]");
    check("range(0)", "[]");
    check_err("range(1, 2, 0)", &["step must not be zero"]);
    check_err(
        "range(1, 5, -1)",
        &["end must be less than start when step is negative"],
    );
    check_err("range(2000)", &["more than 1024 values were generated"]);
}

#[test]
fn reverse_slice_sort() {
    check("reverse([1, 2, 3])", "[3, 2, 1]");
    check(r#"slice(["a", "b", "c", "d"], 1, 3)"#, r#"["b", "c"]"#);
    check_err(
        r#"slice(["a"], 0, 2)"#,
        &["end index must not be greater than the length"],
    );
    check_err(
        r#"slice(["a", "b"], 2, 1)"#,
        &["start index must not be greater than end index"],
    );
    check(r#"sort(["e", "d", "a", "x"])"#, r#"["a", "d", "e", "x"]"#);
    check(r#"sort([3, 1, 10])"#, r#"["1", "10", "3"]"#);
}

#[test]
fn sets() {
    check(
        r#"setintersection(["a", "b"], ["b", "c"], ["b", "d"])"#,
        r#"["b"]"#,
    );
    check(
        r#"setunion(["a", "b"], ["b", "c"], ["d"])"#,
        r#"["a", "b", "c", "d"]"#,
    );
    check(r#"setunion([3, 1], [2, 1])"#, "[1, 2, 3]");
    check(
        r#"setproduct(["development", "staging", "production"], ["app1", "app2"])"#,
        r#"[
            ["development", "app1"], ["development", "app2"],
            ["staging", "app1"], ["staging", "app2"],
            ["production", "app1"], ["production", "app2"],
        ]"#,
    );
    check(r#"setproduct(["a"], [])"#, "[]");
    check_err(
        r#"setproduct(["a"])"#,
        &["at least two arguments are required"],
    );
}

#[test]
fn alltrue_anytrue() {
    check(r#"alltrue(["true", true])"#, "true");
    check(r#"alltrue([true, false])"#, "false");
    check("alltrue([])", "true");
    check(r#"anytrue(["true", false])"#, "true");
    check("anytrue([])", "false");
}
