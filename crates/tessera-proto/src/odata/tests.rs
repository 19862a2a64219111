//! The query options' own tests: parsing, canonical text, evaluation and every refusal.

use super::error::echo;
use super::*;
#[test]
fn filters_evaluate_on_json() {
    let item = serde_json::json!({"appId": "A-1", "displayName": "Nightly Export", "n": 3});
    let item = item.as_object().expect("object");
    let yes = |f: &str| parse_filter(f).expect(f).matches(item);
    assert!(yes("displayName eq 'nightly export'"));
    assert!(yes("appId eq 'x' or appId eq 'a-1'"));
    assert!(yes("startswith(displayName,'Night')"));
    assert!(yes("displayName in ('a', 'Nightly Export')"));
    assert!(!yes("not(displayName eq 'Nightly Export')"));
    assert!(!yes("displayName eq 'Nightly' and appId eq 'A-1'"));
    assert!(yes("missing eq null"));
}
use std::time::{Duration, Instant};

fn cmp(property: &str, op: CompareOp, value: Literal) -> Filter {
    Filter::Compare {
        property: property.into(),
        op,
        value,
    }
}

fn s(v: &str) -> Literal {
    Literal::String(v.into())
}

fn and(a: Filter, b: Filter) -> Filter {
    Filter::And(Box::new(a), Box::new(b))
}

fn or(a: Filter, b: Filter) -> Filter {
    Filter::Or(Box::new(a), Box::new(b))
}

/// Parses, and checks the canonical text parses back into the same tree.
fn parse(text: &str) -> Filter {
    let f = parse_filter(text).expect(text);
    let printed = f.to_string();
    assert_eq!(
        parse_filter(&printed).as_ref(),
        Ok(&f),
        "reprinted as {printed}"
    );
    f
}

fn err(text: &str) -> ODataError {
    match parse_filter(text) {
        Ok(f) => panic!("{text} parsed as {f:?}"),
        Err(e) => e,
    }
}

#[test]
fn documented_examples() {
    assert_eq!(
        parse("startswith(displayName,'a')"),
        Filter::StartsWith {
            property: "displayName".into(),
            prefix: "a".into()
        }
    );
    assert_eq!(
        parse("userPrincipalName eq 'a@b.c'"),
        cmp("userPrincipalName", CompareOp::Eq, s("a@b.c"))
    );
    assert_eq!(
        parse("displayName in ('x','y')"),
        Filter::In {
            property: "displayName".into(),
            values: vec![s("x"), s("y")]
        }
    );
    assert_eq!(
        parse("accountEnabled eq true and (startswith(givenName,'Al') or surname ne 'x')"),
        and(
            cmp("accountEnabled", CompareOp::Eq, Literal::Bool(true)),
            or(
                Filter::StartsWith {
                    property: "givenName".into(),
                    prefix: "Al".into()
                },
                cmp("surname", CompareOp::Ne, s("x"))
            )
        )
    );
    assert_eq!(
        parse("not (mail eq null)"),
        Filter::Not(Box::new(cmp("mail", CompareOp::Eq, Literal::Null)))
    );
    assert_eq!(
        parse("endswith(mail,'@contoso.com')"),
        Filter::EndsWith {
            property: "mail".into(),
            suffix: "@contoso.com".into()
        }
    );
}

#[test]
fn quotes_and_unicode_in_strings() {
    assert_eq!(
        parse("displayName eq 'O''Brien'"),
        cmp("displayName", CompareOp::Eq, s("O'Brien"))
    );
    assert_eq!(parse("a eq ''''"), cmp("a", CompareOp::Eq, s("'")));
    assert_eq!(parse("a eq ''"), cmp("a", CompareOp::Eq, s("")));
    assert_eq!(
        parse("displayName eq 'Zoë 日本 (and) or, \"x\" 🙂'"),
        cmp(
            "displayName",
            CompareOp::Eq,
            s("Zoë 日本 (and) or, \"x\" 🙂")
        )
    );
    assert_eq!(
        parse_filter("displayName eq 'O''Brien'")
            .expect("ok")
            .to_string(),
        "displayName eq 'O''Brien'"
    );
}

#[test]
fn precedence_and_grouping() {
    let (a, b, c) = (
        cmp("a", CompareOp::Eq, Literal::Integer(1)),
        cmp("b", CompareOp::Eq, Literal::Integer(2)),
        cmp("c", CompareOp::Eq, Literal::Integer(3)),
    );
    assert_eq!(
        parse("a eq 1 or b eq 2 and c eq 3"),
        or(a.clone(), and(b.clone(), c.clone()))
    );
    assert_eq!(
        parse("a eq 1 and b eq 2 or c eq 3"),
        or(and(a.clone(), b.clone()), c.clone())
    );
    assert_eq!(
        parse("(a eq 1 or b eq 2) and c eq 3"),
        and(or(a.clone(), b.clone()), c.clone())
    );
    // Chains are left-associative; a grouped right side survives reprinting.
    assert_eq!(
        parse("a eq 1 or (b eq 2 or c eq 3)"),
        or(a.clone(), or(b.clone(), c.clone()))
    );
    assert_eq!(
        parse("not a eq 1 and b eq 2"),
        and(Filter::Not(Box::new(a.clone())), b.clone())
    );
    assert_eq!(
        parse("not not a eq 1"),
        Filter::Not(Box::new(Filter::Not(Box::new(a))))
    );
}

#[test]
fn case_whitespace_and_literals() {
    assert_eq!(
        parse("  StartsWith(  displayName ,  'a' )  AND Surname EQ 'x'"),
        and(
            Filter::StartsWith {
                property: "displayName".into(),
                prefix: "a".into()
            },
            cmp("Surname", CompareOp::Eq, s("x"))
        )
    );
    assert_eq!(
        parse("a\teq\nFALSE"),
        cmp("a", CompareOp::Eq, Literal::Bool(false))
    );
    assert_eq!(
        parse("n ge -42 OR n lt 9223372036854775807 or n le -9223372036854775808 or n gt 0"),
        or(
            or(
                or(
                    cmp("n", CompareOp::Ge, Literal::Integer(-42)),
                    cmp("n", CompareOp::Lt, Literal::Integer(i64::MAX))
                ),
                cmp("n", CompareOp::Le, Literal::Integer(i64::MIN))
            ),
            cmp("n", CompareOp::Gt, Literal::Integer(0))
        )
    );
    assert_eq!(
        parse("x IN ( 'a' , 1,true,  null )"),
        Filter::In {
            property: "x".into(),
            values: vec![
                s("a"),
                Literal::Integer(1),
                Literal::Bool(true),
                Literal::Null
            ]
        }
    );
    assert_eq!(
        parse("_a_1 eq 1"),
        cmp("_a_1", CompareOp::Eq, Literal::Integer(1))
    );
}

#[test]
fn properties_and_operators_for_allow_lists() {
    let f = parse(
        "displayName eq 'x' and (startswith(mail,'a') or not (displayName in ('y')) or endswith(mail,'b'))",
    );
    assert_eq!(f.properties(), vec!["displayName", "mail"]);
    assert_eq!(
        f.operators(),
        vec!["and", "eq", "or", "startsWith", "not", "in", "endsWith"]
    );
    assert_eq!(parse("a ne 1").operators(), vec!["ne"]);
}

#[test]
fn syntax_errors_are_bad_request() {
    for text in [
        "",
        "   ",
        "displayName",
        "displayName eq",
        "displayName eq 'x",
        "displayName eq \"x\"",
        "displayName like 'x'",
        "displayName eq name",
        "eq eq 'x'",
        "a eq 1 and",
        "a eq 1 and or b eq 2",
        "(a eq 1",
        "a eq 1)",
        "a eq 1 b eq 2",
        "()",
        "not",
        "startswith(displayName)",
        "startswith(displayName,1)",
        "startswith('a',displayName)",
        "startswith displayName",
        "a in ()",
        "a in ('x',)",
        "a in 'x'",
        "a in ('x' 'y')",
        "a eq - 1",
        "a eq 99999999999999999999",
        "é eq 'x'",
        "a eq 'x' ; drop",
        "a eq +1",
    ] {
        let e = err(text);
        assert!(matches!(e, ODataError::InvalidFilter(_)), "{text}: {e:?}");
        assert_eq!(e.code(), "BadRequest", "{text}");
        assert!(e.to_string().starts_with("Invalid filter clause: "), "{e}");
    }
    assert_eq!(
        err("a eq 1)").to_string(),
        "Invalid filter clause: expected 'and', 'or' or the end at position 6, found ')'"
    );
    assert_eq!(
        err("displayName eq 'x").to_string(),
        "Invalid filter clause: unterminated string starting at position 15"
    );
    assert_eq!(
        err("é eq 'x'").to_string(),
        "Invalid filter clause: unexpected character 'é' at position 0"
    );
}

#[test]
fn unsupported_clauses_are_named() {
    let e = err("identities/any(c:c/issuerAssignedId eq 'j(x)' and c/issuer eq 'B2C')");
    assert_eq!(
        e,
        ODataError::UnsupportedFilter(
            "identities/any(c:c/issuerAssignedId eq 'j(x)' and c/issuer eq 'B2C')".into()
        )
    );
    assert_eq!(e.code(), "Request_UnsupportedQuery");
    assert_eq!(
        err("a eq 1 and groupTypes/any(c:c eq 'Unified')"),
        ODataError::UnsupportedFilter("groupTypes/any(c:c eq 'Unified')".into())
    );
    assert_eq!(
        err("manager/displayName eq 'x'"),
        ODataError::UnsupportedFilter("manager/displayName".into())
    );
    assert_eq!(
        err("contains(displayName,'x')").to_string(),
        "Invalid filter clause: 'contains(displayName,'x')' is not supported."
    );
    assert_eq!(
        err("createdDateTime ge 2021-01-01T00:00:00Z"),
        ODataError::UnsupportedFilter("2021-01-01T00:00:00Z".into())
    );
    assert_eq!(err("n eq 1.5"), ODataError::UnsupportedFilter("1.5".into()));
    assert_eq!(
        err("id eq 6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0"),
        ODataError::UnsupportedFilter("6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0".into())
    );
    assert_eq!(
        err("startswith(identities/x,'a')"),
        ODataError::UnsupportedFilter("identities/x".into())
    );
}

#[test]
fn limits() {
    let nested = |n: usize| format!("{}a eq 1{}", "(".repeat(n), ")".repeat(n));
    parse(&nested(MAX_NESTING));
    assert!(matches!(
        err(&nested(MAX_NESTING + 1)),
        ODataError::FilterTooComplex(_)
    ));
    let nots = |n: usize| format!("{}a eq 1", "not ".repeat(n));
    parse(&nots(MAX_NESTING));
    assert!(matches!(
        err(&nots(MAX_NESTING + 1)),
        ODataError::FilterTooComplex(_)
    ));

    let clauses = |n: usize| vec!["a eq 1"; n].join(" or ");
    parse(&clauses(MAX_CLAUSES));
    let e = err(&clauses(MAX_CLAUSES + 1));
    assert!(matches!(e, ODataError::FilterTooComplex(_)), "{e:?}");
    assert_eq!(e.code(), "Request_UnsupportedQuery");

    let list = |n: usize| format!("a in ({})", vec!["'v'"; n].join(","));
    parse(&list(MAX_IN_VALUES));
    assert!(matches!(
        err(&list(MAX_IN_VALUES + 1)),
        ODataError::FilterTooComplex(_)
    ));

    let long = format!("a eq '{}'", "x".repeat(MAX_QUERY_BYTES - 7));
    assert_eq!(long.len(), MAX_QUERY_BYTES);
    parse_filter(&long).expect("exactly at the limit");
    let too_long = format!("a eq '{}'", "x".repeat(MAX_QUERY_BYTES - 6));
    assert_eq!(
        err(&too_long).to_string(),
        "Invalid filter clause: the expression is longer than 4096 bytes"
    );
}

#[test]
fn hostile_input_fails_fast() {
    let start = Instant::now();
    for text in [
        "(".repeat(1000),
        "(".repeat(MAX_QUERY_BYTES),
        "not ".repeat(1000),
        format!("{}a eq 1", "not (".repeat(800)),
        "'".repeat(MAX_QUERY_BYTES - 1),
        format!("a eq '{}", "''".repeat(2000)),
        "a eq 1 and ".repeat(372),
        ")".repeat(MAX_QUERY_BYTES),
        "identities/any(".repeat(200),
        "a in (".repeat(600),
    ] {
        assert!(parse_filter(&text).is_err(), "{}", echo(&text));
    }
    assert!(parse_filter(&"(".repeat(1_000_000)).is_err());
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    // Escaped quotes are linear, and the value is right.
    let f = parse_filter(&format!("a eq '{}'", "''".repeat(2000))).expect("quotes");
    assert_eq!(f, cmp("a", CompareOp::Eq, s(&"'".repeat(2000))));
}

#[test]
fn select() {
    assert_eq!(
        parse_select(" displayName, id ,mail,ID,displayName").expect("ok"),
        vec!["displayName", "id", "mail"]
    );
    assert_eq!(
        parse_select("signInActivity").expect("ok"),
        vec!["signInActivity"]
    );
    for bad in [
        "",
        "a,,b",
        "a,",
        "*",
        "manager/displayName",
        "a b",
        "1a",
        "dis-play",
    ] {
        let e = parse_select(bad).expect_err(bad);
        assert!(matches!(e, ODataError::InvalidSelect(_)), "{bad}");
        assert_eq!(e.code(), "Request_BadRequest");
    }
    assert_eq!(
        parse_select("id,manager/displayName")
            .expect_err("path")
            .to_string(),
        "Parsing OData Select and Expand failed: 'manager/displayName' in $select is not a supported property name."
    );
    assert!(parse_select(&"a,".repeat(MAX_QUERY_BYTES)).is_err());
}

#[test]
fn orderby() {
    let ob = |p: &str, d: bool| OrderBy {
        property: p.into(),
        descending: d,
    };
    assert_eq!(
        parse_orderby("displayName").expect("ok"),
        vec![ob("displayName", false)]
    );
    assert_eq!(
        parse_orderby("displayName desc").expect("ok"),
        vec![ob("displayName", true)]
    );
    assert_eq!(
        parse_orderby(" a ASC , b  DESC").expect("ok"),
        vec![ob("a", false), ob("b", true)]
    );
    for bad in ["", "a,", "a desc desc", "a down", "a/b", "desc,", "a, ,b"] {
        let e = parse_orderby(bad).expect_err(bad);
        assert!(matches!(e, ODataError::InvalidOrderBy(_)), "{bad}");
        assert_eq!(e.code(), "Request_BadRequest");
    }
    assert_eq!(
        parse_orderby("displayName down")
            .expect_err("bad")
            .to_string(),
        "Invalid $orderby clause: expected 'asc' or 'desc' after 'displayName', found 'down'."
    );
}

#[test]
fn top() {
    assert_eq!(parse_top("1"), Ok(1));
    assert_eq!(parse_top("999"), Ok(999));
    assert_eq!(parse_top("050"), Ok(50));
    for bad in [
        "0",
        "1000",
        "abc",
        "",
        "-1",
        "+5",
        " 5",
        "1.0",
        "99999999999999999999",
    ] {
        let e = parse_top(bad).expect_err(bad);
        assert_eq!(e.code(), "Request_UnsupportedQuery");
        assert_eq!(
            e.to_string(),
            format!("Invalid page size specified: '{bad}'. Must be between 1 and 999 inclusive.")
        );
    }
    assert_eq!(
        parse_top("1000").expect_err("big").to_string(),
        "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive."
    );
    let long = "9".repeat(500);
    let shown = parse_top(&long).expect_err("long").to_string();
    assert!(shown.len() < 250, "{shown}");
}

#[test]
fn caller_errors_have_graph_text() {
    let e = ODataError::UnsupportedFilterProperty {
        property: "createdDateTime".into(),
        resource: "Group".into(),
    };
    assert_eq!(e.code(), "Request_UnsupportedQuery");
    assert_eq!(
        e.to_string(),
        "Unsupported or invalid query filter clause specified for property 'createdDateTime' of resource 'Group'."
    );
    let e = ODataError::AdvancedQueryRequired {
        operator: "endsWith".into(),
    };
    assert_eq!(e.code(), "Request_UnsupportedQuery");
    assert_eq!(
        e.to_string(),
        "Operator 'endsWith' is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information"
    );
    let e = ODataError::UnsupportedSortProperty {
        property: "createdDateTime".into(),
        resource: "User".into(),
    };
    assert_eq!(
        e.to_string(),
        "Unsupported sort property 'createdDateTime' for 'User'."
    );
    assert_eq!(e.code(), "Request_UnsupportedQuery");
    let e = ODataError::UnknownSelectProperty {
        property: "foo".into(),
        type_name: "microsoft.graph.user".into(),
    };
    assert_eq!(e.code(), "Request_BadRequest");
    assert_eq!(
        e.to_string(),
        "Parsing OData Select and Expand failed: Could not find a property named 'foo' on type 'microsoft.graph.user'."
    );
}
