use super::*;

fn vs(yaml: &str) -> CompiledVs {
    CompiledVs::compile(serde_saphyr::from_str(yaml).expect("virtual service")).expect("compiles")
}

fn request(method: &str, path: &str, query: &[(&str, &str)], headers: &[(&str, &str)]) -> Request {
    let map = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    Request {
        method: method.into(),
        path: path.into(),
        query: map(query),
        headers: map(headers),
    }
}

fn get(path: &str) -> Request {
    request("GET", path, &[], &[])
}

#[test]
fn uri_exact_prefix_and_regex_match_the_path() {
    let spec = vs(r#"
http:
  - match: [{uri: {exact: /login}}]
    route: [{destination: {host: a}}]
  - match: [{uri: {prefix: /api/}}]
    route: [{destination: {host: b}}]
  - match: [{uri: {regex: "/v[0-9]+"}}]
    route: [{destination: {host: c}}]
  - route: [{destination: {host: d}}]
"#);
    assert_eq!(spec.route_of(&get("/login")), Some(0));
    assert_eq!(spec.route_of(&get("/login/")), Some(3));
    assert_eq!(spec.route_of(&get("/api/users")), Some(1));
    assert_eq!(spec.route_of(&get("/v12")), Some(2));
    // RE2 matches must cover the whole path.
    assert_eq!(spec.route_of(&get("/v12/x")), Some(3));
    assert_eq!(spec.route_of(&get("/API/users")), Some(3));
}

#[test]
fn ignore_uri_case_applies_to_exact_and_prefix() {
    let spec = vs(r#"
http:
  - match: [{uri: {prefix: /API/}, ignoreUriCase: true}]
    route: [{destination: {host: a}}]
  - match: [{uri: {regex: "/x"}, ignoreUriCase: true}]
    route: [{destination: {host: b}}]
"#);
    assert_eq!(spec.route_of(&get("/api/users")), Some(0));
    assert_eq!(spec.route_of(&get("/x")), Some(1));
    assert_eq!(spec.route_of(&get("/X")), None);
}

#[test]
fn query_params_method_and_absent_headers() {
    let spec = vs(r#"
http:
  - match: [{queryParams: {user: {exact: beta}}}]
    route: [{destination: {host: a}}]
  - match: [{queryParams: {id: {regex: "[0-9]+"}}}]
    route: [{destination: {host: b}}]
  - match: [{method: {exact: POST}}]
    route: [{destination: {host: c}}]
  - match: [{withoutHeaders: {x-internal: {}}}]
    route: [{destination: {host: d}}]
"#);
    assert_eq!(
        spec.route_of(&request("GET", "/", &[("user", "beta")], &[])),
        Some(0)
    );
    assert_eq!(
        spec.route_of(&request(
            "GET",
            "/",
            &[("User", "beta")],
            &[("x-internal", "1")]
        )),
        None
    );
    assert_eq!(
        spec.route_of(&request("GET", "/", &[("id", "42")], &[])),
        Some(1)
    );
    assert_eq!(
        spec.route_of(&request("GET", "/", &[("id", "4x")], &[])),
        Some(3)
    );
    assert_eq!(
        spec.route_of(&request("POST", "/", &[], &[("x-internal", "1")])),
        Some(2)
    );
    assert_eq!(
        spec.route_of(&request("GET", "/", &[], &[("x-internal", "1")])),
        None
    );
}

#[test]
fn fields_of_one_match_and_while_matches_of_a_route_or() {
    let spec = vs(r#"
http:
  - match:
      - {uri: {prefix: /api}, headers: {x-canary: {exact: insider}}}
      - {headers: {cookie: {regex: ".*canary=always.*"}}}
    route: [{destination: {host: a}}]
"#);
    let insider = [("x-canary", "insider")];
    assert_eq!(
        spec.route_of(&request("GET", "/api/x", &[], &insider)),
        Some(0)
    );
    assert_eq!(spec.route_of(&request("GET", "/web", &[], &insider)), None);
    assert_eq!(spec.route_of(&get("/api/x")), None);
    let cookie = [("cookie", "a=b; canary=always; c=d")];
    assert_eq!(
        spec.route_of(&request("GET", "/web", &[], &cookie)),
        Some(0)
    );
}

#[test]
fn first_matching_route_wins_and_a_route_without_match_takes_all() {
    let spec = vs(r#"
http:
  - route: [{destination: {host: a}}]
  - match: [{headers: {x-canary: {exact: insider}}}]
    route: [{destination: {host: b}}]
"#);
    let insider = [("x-canary", "insider")];
    assert_eq!(spec.route_of(&request("GET", "/", &[], &insider)), Some(0));
    assert_eq!(vs("http: []").route_of(&get("/")), None);
}

#[test]
fn flaggers_cookie_match_reads_the_raw_cookie_header_case_insensitively() {
    // Flagger writes the header name capitalised; requests carry it in
    // lower case.
    let spec = vs(r#"
http:
  - match: [{headers: {Cookie: {regex: ".*flagger-cookie.*XyZ.*"}}}]
    route: [{destination: {host: canary}}]
  - route: [{destination: {host: primary}}]
"#);
    let with = [("cookie", "theme=dark; flagger-cookie=XyZ")];
    assert_eq!(spec.route_of(&request("GET", "/", &[], &with)), Some(0));
    let other = [("cookie", "flagger-cookie=abc")];
    assert_eq!(spec.route_of(&request("GET", "/", &[], &other)), Some(1));
    assert_eq!(spec.route_of(&get("/")), Some(1));
}

#[test]
fn an_invalid_regex_rejects_the_virtual_service() {
    let spec = serde_saphyr::from_str("http: [{match: [{uri: {regex: \"(\"}}]}]").expect("spec");
    let error = CompiledVs::compile(spec).expect_err("invalid regex");
    assert!(error.to_string().contains("http[0]"), "{error}");
}
