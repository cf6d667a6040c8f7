//! The example binaries, run as a newcomer would: `echo` and `hello` started with
//! `--bind 127.0.0.1:0 --workers 1` print exactly one stdout line, `listening on
//! http://127.0.0.1:PORT` (logs go to stderr), and answer real clients (`ureq`, `curl`, raw
//! sockets): echo's `/`, `/count` (SHA-256 of a 1 MiB upload), `/echo` (streams the body
//! back while it is still being sent), `/drip` (lines spread over time, parameter limits),
//! `/big` (exact Content-Length bodies, size limit) and 404s; hello's answer to any method
//! and path, and its 400 for a chunked body with a bad chunk size. For every example
//! (`chat` too): HEAD of each GET route gets GET's status and fields and no body (raw socket
//! and `curl -I`), and the command line (clap): `--help` lists every option with its
//! default, a bad value or unknown option exits 2 with clap's message on stderr.
//!
//! `cargo test` builds the examples into `target/<profile>/examples/`, next to this test's
//! `target/<profile>/deps/`; with a target filter (`cargo test --test examples`) run
//! `cargo build --examples` first.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use support::example::Example;
use support::{agent, is_closed, read_chunk, read_chunked_rest, read_head, read_response};

fn header<B>(resp: &ureq::http::Response<B>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().expect("ASCII header").to_owned())
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// 1 MiB of varied (not repeating every few bytes) data.
fn mib_of_data() -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

// ----- both examples: startup and output ----------------------------------------------------

/// Nothing but the listening line on stdout, while requests are served and the process
/// stops; the access log goes to stderr; SIGTERM ends the process with status 0.
fn prints_only_its_listening_line(name: &str) {
    let ex = Example::start(name);
    let mut resp = agent().get(ex.url("/")).call().unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.body_mut().read_to_string().unwrap(), "Hello, World!");
    let out = ex.terminate(Duration::from_secs(5));
    assert_eq!(out.stdout_rest, "", "{name} wrote more to stdout");
    assert!(
        out.stderr.contains("weir::access") && out.stderr.contains("status=200"),
        "{name}'s access log is not on stderr: {:?}",
        out.stderr
    );
    assert!(
        out.status.is_some_and(|s| s.success()),
        "{name} exit after SIGTERM: {:?}; stderr: {}",
        out.status,
        out.stderr
    );
}

#[test]
fn echo_prints_only_its_listening_line() {
    prints_only_its_listening_line("echo");
}

#[test]
fn hello_prints_only_its_listening_line() {
    prints_only_its_listening_line("hello");
}

// ----- echo ---------------------------------------------------------------------------------

#[test]
fn echo_root_says_hello() {
    let ex = Example::start("echo");
    let mut resp = agent().get(ex.url("/")).call().unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "content-type").as_deref(), Some("text/plain"));
    assert_eq!(header(&resp, "content-length").as_deref(), Some("13"));
    assert_eq!(resp.body_mut().read_to_string().unwrap(), "Hello, World!");
}

#[test]
fn echo_count_hashes_a_mib_upload() {
    let ex = Example::start("echo");
    let data = mib_of_data();
    let mut resp = agent().post(ex.url("/count")).send(&data[..]).unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.body_mut().read_to_string().unwrap(),
        format!("bytes=1048576 sha256={}", sha256_hex(&data))
    );
}

/// curl sends a 1 MiB upload (with `Expect: 100-continue`) from stdin.
#[test]
fn echo_count_with_curl() {
    let ex = Example::start("echo");
    let data = mib_of_data();
    let mut curl = Command::new("curl")
        .args(["-sS", "--max-time", "30", "--data-binary", "@-"])
        .arg(ex.url("/count"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("curl is installed (.ci/run installs it)");
    let mut stdin = curl.stdin.take().unwrap();
    let feed = {
        let data = data.clone();
        std::thread::spawn(move || stdin.write_all(&data))
    };
    let out = curl.wait_with_output().unwrap();
    feed.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("bytes=1048576 sha256={}", sha256_hex(&data))
    );
}

/// The first chunk of a chunked upload comes back before the rest is sent.
#[test]
fn echo_streams_the_body_back_while_it_is_sent() {
    let ex = Example::start("echo");
    let mut s = ex.connect();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    )
    .unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let head = read_head(&mut r);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("transfer-encoding"), Some("chunked"));
    let mut first = Vec::new();
    while first.len() < 5 {
        first.extend(
            read_chunk(&mut r)
                .unwrap()
                .expect("echoed bytes before the end"),
        );
    }
    assert_eq!(first, b"hello");

    // Only now send the rest.
    s.write_all(b"6\r\n world\r\n0\r\n\r\n").unwrap();
    let mut rest = Vec::new();
    read_chunked_rest(&mut r, &mut rest).unwrap();
    assert_eq!(rest, b" world");

    // The connection is kept alive for the next request.
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.text(), "Hello, World!");
}

/// `/drip?n=3&ms=100`: three lines, the last ≥ ~200 ms after the first.
#[test]
fn echo_drip_spreads_lines_over_time() {
    let ex = Example::start("echo");
    let resp = agent().get(ex.url("/drip?n=3&ms=100")).call().unwrap();
    assert_eq!(resp.status(), 200);
    let mut r = BufReader::new(resp.into_body().into_reader());
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap() == 0 {
            break;
        }
        lines.push((line, Instant::now()));
    }
    let text: Vec<&str> = lines.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(text, ["tick 1\n", "tick 2\n", "tick 3\n"]);
    let spread = lines[2].1 - lines[0].1;
    assert!(
        spread >= Duration::from_millis(180),
        "ticks arrived within {spread:?}"
    );
    assert!(spread < Duration::from_secs(2), "ticks took {spread:?}");
}

#[test]
fn echo_drip_rejects_out_of_range_parameters() {
    let ex = Example::start("echo");
    let agent = agent();
    for (target, param) in [
        ("/drip?n=1001&ms=1", "n"),
        ("/drip?n=1&ms=10001", "ms"),
        ("/drip?n=-1&ms=1", "n"),
        ("/drip?ms=1", "n"),
        ("/drip?n=1", "ms"),
    ] {
        let mut resp = agent.get(ex.url(target)).call().unwrap();
        assert_eq!(resp.status(), 400, "{target}");
        let body = resp.body_mut().read_to_string().unwrap();
        assert!(
            body.starts_with(&format!("{param} must be")),
            "{target}: {body:?}"
        );
    }
    // At the limits it is fine.
    let mut resp = agent.get(ex.url("/drip?n=1000&ms=0")).call().unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.body_mut().read_to_string().unwrap();
    assert_eq!(body.lines().count(), 1000);
    assert_eq!(body.lines().last(), Some("tick 1000"));
}

/// The byte `big` sends at offset `i`: 64 KiB pieces of `a..z` repeated.
fn big_byte(i: usize) -> u8 {
    b'a' + (i % (64 * 1024) % 26) as u8
}

#[test]
fn echo_big_sends_exactly_the_bytes_asked_for() {
    let ex = Example::start("echo");
    let n = 10 * 1024 * 1024;
    let resp = agent()
        .get(ex.url(&format!("/big?bytes={n}")))
        .call()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "content-length"), Some(n.to_string()));
    assert_eq!(header(&resp, "transfer-encoding"), None);
    let body = resp
        .into_body()
        .into_with_config()
        .limit(u64::MAX)
        .read_to_vec()
        .unwrap();
    assert_eq!(body.len(), n);
    if let Some(i) = (0..n).find(|&i| body[i] != big_byte(i)) {
        panic!("byte {i} is {:?}, not {:?}", body[i], big_byte(i));
    }
    // Odd sizes too (not a multiple of the 64 KiB piece), and zero.
    for n in [0, 1, 65_537] {
        let resp = agent()
            .get(ex.url(&format!("/big?bytes={n}")))
            .call()
            .unwrap();
        assert_eq!(header(&resp, "content-length"), Some(n.to_string()));
        let body = resp.into_body().read_to_vec().unwrap();
        assert_eq!(body.len(), n);
        assert!(body.iter().enumerate().all(|(i, &b)| b == big_byte(i)));
    }
}

#[test]
fn echo_big_with_curl() {
    let ex = Example::start("echo");
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "30",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{size_download}",
        ])
        .arg(ex.url("/big?bytes=10485760"))
        .output()
        .expect("curl is installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "200 10485760");
}

#[test]
fn echo_big_rejects_more_than_a_gib() {
    let ex = Example::start("echo");
    let mut resp = agent().get(ex.url("/big?bytes=1073741825")).call().unwrap();
    assert_eq!(resp.status(), 400);
    let body = resp.body_mut().read_to_string().unwrap();
    assert!(body.starts_with("bytes must be"), "{body:?}");

    // Exactly 1 GiB is allowed: read the head only, then hang up.
    let mut s = ex.connect();
    s.write_all(b"GET /big?bytes=1073741824 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let head = read_head(&mut BufReader::new(s));
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("1073741824"));
}

#[test]
fn echo_unknown_routes_are_404() {
    let ex = Example::start("echo");
    let agent = agent();
    let mut resp = agent.get(ex.url("/nope")).call().unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.body_mut().read_to_string().unwrap(), "not found\n");
    // Known paths with the wrong method.
    let resp = agent.post(ex.url("/")).send("x").unwrap();
    assert_eq!(resp.status(), 404);
    let resp = agent.get(ex.url("/echo")).call().unwrap();
    assert_eq!(resp.status(), 404);
    let resp = agent.get(ex.url("/count")).call().unwrap();
    assert_eq!(resp.status(), 404);
}

// ----- hello --------------------------------------------------------------------------------

fn assert_hello<B>(resp: &ureq::http::Response<B>, what: &str) {
    assert_eq!(resp.status(), 200, "{what}");
    assert_eq!(
        header(resp, "content-length").as_deref(),
        Some("13"),
        "{what}"
    );
    assert_eq!(
        header(resp, "content-type").as_deref(),
        Some("text/plain"),
        "{what}"
    );
}

#[test]
fn hello_answers_any_method_and_path() {
    let ex = Example::start("hello");
    let agent = agent();
    let data = mib_of_data();
    let responses = [
        ("GET /", agent.get(ex.url("/")).call()),
        ("GET /a/b?c=d", agent.get(ex.url("/a/b?c=d")).call()),
        ("POST /x", agent.post(ex.url("/x")).send(&data[..])),
        (
            "POST /chunked (chunked upload)",
            agent
                .post(ex.url("/chunked"))
                .send(ureq::SendBody::from_reader(&mut &data[..])),
        ),
        ("PUT /y", agent.put(ex.url("/y")).send("put body")),
        ("PATCH /z", agent.patch(ex.url("/z")).send("")),
        ("DELETE /thing", agent.delete(ex.url("/thing")).call()),
        ("OPTIONS /", agent.options(ex.url("/")).call()),
    ];
    for (what, resp) in responses {
        let mut resp = resp.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_hello(&resp, what);
        assert_eq!(
            resp.body_mut().read_to_string().unwrap(),
            "Hello, World!",
            "{what}"
        );
    }
    // HEAD: the same head, no body.
    let resp = agent.head(ex.url("/head")).call().unwrap();
    assert_hello(&resp, "HEAD /head");
    assert_eq!(resp.into_body().read_to_vec().unwrap(), b"");
}

#[test]
fn hello_with_curl_shows_the_full_head() {
    let ex = Example::start("hello");
    let out = Command::new("curl")
        .args(["-sS", "-i", "--max-time", "30", "-X", "DELETE"])
        .arg(ex.url("/any/where?x=1"))
        .output()
        .expect("curl is installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
    let mut lines = head.split("\r\n");
    assert_eq!(lines.next(), Some("HTTP/1.1 200 OK"));
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(':').expect("header line");
            (k.to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("content-length"), Some("13"));
    assert_eq!(get("content-type"), Some("text/plain"));
    assert!(get("date").is_some(), "no Date header: {head}");
    assert_eq!(body, "Hello, World!");
}

/// hello reads the body, so a bad chunk size is seen: 400, `Connection: close`, closed.
#[test]
fn hello_rejects_a_bad_chunk_size() {
    let ex = Example::start("hello");
    let mut s = ex.connect();
    s.write_all(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.status, 400, "{}", resp.text());
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(is_closed(&mut r), "connection open after a framing error");

    // The server is still fine for the next client.
    let resp = agent().get(ex.url("/")).call().unwrap();
    assert_hello(&resp, "GET / after the bad request");
}

// ----- mixed -------------------------------------------------------------------------------

#[test]
fn mixed_root_is_async_hello() {
    let ex = Example::start("mixed");
    let mut resp = agent().get(ex.url("/")).call().unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.body_mut().read_to_string().unwrap(), "Hello, World!");
}

fn check_switch(text: &str, data: &[u8], after: usize) {
    let want_prefix = format!("bytes={} sha256={} async=", data.len(), sha256_hex(data));
    assert!(text.starts_with(&want_prefix), "{text}");
    let nums: Vec<usize> = text
        .split(' ')
        .skip(2)
        .map(|kv| kv.split_once('=').unwrap().1.parse().unwrap())
        .collect();
    assert_eq!(nums[0] + nums[1], data.len(), "{text}");
    assert!(nums[0] >= after.min(data.len()), "{text}");
}

#[test]
fn mixed_switch_reads_async_then_blocking() {
    let ex = Example::start("mixed");
    let data = mib_of_data();
    for after in [0usize, 1, 30_000, 700_000, 2_000_000] {
        let mut resp = agent()
            .post(ex.url(&format!("/switch?after={after}")))
            .send(&data[..])
            .unwrap();
        assert_eq!(resp.status(), 200);
        check_switch(&resp.body_mut().read_to_string().unwrap(), &data, after);
    }
    // Chunked upload (curl, from stdin, no length known).
    let mut child = Command::new("curl")
        .args([
            "-sS",
            "-H",
            "Transfer-Encoding: chunked",
            "--data-binary",
            "@-",
        ])
        .arg(ex.url("/switch?after=100000"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl (installed by .ci/run)");
    child.stdin.take().unwrap().write_all(&data).unwrap();
    let out = child.wait_with_output().unwrap();
    check_switch(&String::from_utf8_lossy(&out.stdout), &data, 100_000);
}

#[test]
fn mixed_switch_requires_after() {
    let ex = Example::start("mixed");
    let resp = agent().post(ex.url("/switch")).send("x").unwrap();
    assert_eq!(resp.status(), 400);
}

#[test]
fn mixed_legacy_is_a_sync_app_under_sync_middleware() {
    let ex = Example::start("mixed");
    let mut resp = agent()
        .post(ex.url("/legacy"))
        .send("first line\nsecond\nno newline")
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-middleware").as_deref(), Some("sync"));
    assert_eq!(header(&resp, "content-length").as_deref(), Some("16"));
    assert_eq!(
        resp.body_mut().read_to_string().unwrap(),
        "lines=3 bytes=28"
    );
}

#[test]
fn mixed_block_sleeps_on_the_pool_without_delaying_root() {
    let ex = Example::start_with("mixed", &["--pool", "16"]);
    let t = Instant::now();
    let mut resp = agent().get(ex.url("/block?ms=300")).call().unwrap();
    assert_eq!(resp.body_mut().read_to_string().unwrap(), "slept=300");
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        agent()
            .get(ex.url("/block?ms=10001"))
            .call()
            .unwrap()
            .status(),
        400
    );
    // 16 concurrent sleeps while GET / is timed.
    let url = ex.url("/block?ms=1500");
    let sleepers: Vec<_> = (0..16)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || agent().get(&url).call().unwrap().status())
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    for _ in 0..10 {
        assert_eq!(agent().get(ex.url("/")).call().unwrap().status(), 200);
    }
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    for s in sleepers {
        assert_eq!(s.join().unwrap(), 200);
    }
}

#[test]
fn mixed_full_pool_answers_503_with_retry_after() {
    let ex = Example::start_with("mixed", &["--pool", "1", "--queue", "0"]);
    let url = ex.url("/block?ms=1000");
    let first = std::thread::spawn(move || agent().get(&url).call().unwrap().status());
    std::thread::sleep(Duration::from_millis(200));
    let resp = agent().get(ex.url("/block?ms=1")).call().unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(header(&resp, "retry-after").as_deref(), Some("1"));
    assert_eq!(first.join().unwrap(), 200);
}

// ----- every example: HEAD wherever GET is served (RFC 9110 §9.3.2) ------------------------

/// The fields of a response head to compare between GET and HEAD: all but `date` (the
/// second may turn between the two) and `transfer-encoding` (framing: a HEAD response has
/// no body to frame, so the runtime leaves it out), lower-cased and sorted.
fn comparable_fields(resp: &support::Response) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = resp
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .filter(|(k, _)| k != "date" && k != "transfer-encoding")
        .collect();
    fields.sort();
    fields
}

/// The head a GET of `target` gets, on its own connection (which is then dropped, so a
/// never-ending body such as an event stream does not matter).
fn get_head(ex: &Example, target: &str) -> support::Response {
    let mut s = ex.connect();
    write!(s, "GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    read_head(&mut BufReader::new(s))
}

/// HEAD `target` over a raw socket: its head must match GET's (status, Content-Length and
/// every other field), and no body may follow it: a GET pipelined right behind the HEAD on
/// the same connection must get its own, well-formed response.
fn check_head_like_get(ex: &Example, target: &str) {
    let get = get_head(ex, target);
    let mut s = ex.connect();
    write!(
        s,
        "HEAD {target} HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let head = read_response(&mut r, true).unwrap();
    assert_eq!(head.status, get.status, "HEAD {target}: status");
    assert_eq!(
        head.header("content-length"),
        get.header("content-length"),
        "HEAD {target}: Content-Length"
    );
    assert_eq!(
        comparable_fields(&head),
        comparable_fields(&get),
        "HEAD {target}: fields"
    );
    let next = read_response(&mut r, false).unwrap();
    assert_eq!(next.status, 200, "GET / after HEAD {target}: {next:?}");
    assert_eq!(
        next.header("content-length")
            .map(|n| n.parse::<usize>().unwrap()),
        Some(next.body.len()),
        "GET / after HEAD {target}"
    );
}

/// `curl -I` (a HEAD) of `target`: status line and Content-Length as GET's, and curl is
/// content with a head alone.
fn check_curl_head(ex: &Example, target: &str) {
    let get = get_head(ex, target);
    let out = Command::new("curl")
        .args(["-sS", "-I", "--max-time", "10"])
        .arg(ex.url(target))
        .output()
        .expect("curl is installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "curl -I {target}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let head = text
        .strip_suffix("\r\n\r\n")
        .unwrap_or_else(|| panic!("curl -I {target}: not a lone head: {text:?}"));
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap();
    assert!(
        status.starts_with(&format!("HTTP/1.1 {} ", get.status)),
        "curl -I {target}: {status}"
    );
    let length = lines.find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().to_owned())
    });
    assert_eq!(
        length.as_deref(),
        get.header("content-length"),
        "curl -I {target}: {head}"
    );
}

#[test]
fn hello_head_matches_get() {
    let ex = Example::start("hello");
    for target in ["/", "/any/path?x=1"] {
        check_head_like_get(&ex, target);
        check_curl_head(&ex, target);
    }
}

#[test]
fn echo_head_matches_get_on_every_get_route() {
    let ex = Example::start("echo");
    for target in [
        "/",
        "/drip?n=3&ms=10",
        "/big?bytes=100000",
        "/big?bytes=0",
        // Errors and unknown paths too.
        "/drip?n=1001&ms=1",
        "/nope",
    ] {
        check_head_like_get(&ex, target);
        check_curl_head(&ex, target);
    }
    // HEAD of a long drip or a 1 GiB body ends at the head instead of generating the body.
    let t = Instant::now();
    check_head_like_get(&ex, "/big?bytes=1073741824");
    let mut s = ex.connect();
    s.write_all(
        b"HEAD /drip?n=1000&ms=10000 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    let mut r = BufReader::new(s);
    assert_eq!(read_response(&mut r, true).unwrap().status, 200);
    assert_eq!(
        read_response(&mut r, false).unwrap().text(),
        "Hello, World!"
    );
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[test]
fn mixed_head_matches_get_on_every_get_route() {
    let ex = Example::start("mixed");
    for target in ["/", "/block?ms=10", "/block?ms=10001", "/nope"] {
        check_head_like_get(&ex, target);
        check_curl_head(&ex, target);
    }
}

#[test]
fn chat_head_matches_get_on_every_get_route() {
    // A short long-poll, so `GET /poll` answers (204) within the test.
    let ex = Example::start_with("chat", &["--poll-timeout", "0.2"]);
    for target in [
        "/",
        "/stats",
        "/poll",
        "/events",
        "/stream",
        "/poll?since=x",
        "/nope",
    ] {
        check_head_like_get(&ex, target);
        check_curl_head(&ex, target);
    }
}

// ----- every example: bad command lines -----------------------------------------------------

/// Run example `name` with `args` (no server starts), returning (status, stdout, stderr).
fn run_example(name: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(support::example::bin(name, &[]))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {name}: {e}"));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A bad value or an unknown option: status 2, nothing on stdout, and clap's message on
/// stderr naming the option and what is wrong with the value.
fn bad_values_exit_2(name: &str, extra: &[(&[&str], &str)]) {
    let common: [(&[&str], &str); 6] = [
        (
            &["--workers", "abc"],
            "invalid value 'abc' for '--workers <N>'",
        ),
        (
            &["--workers", "0"],
            "invalid value '0' for '--workers <N>': must be at least 1",
        ),
        (&["--pool", "-3"], "invalid value '-3' for '--pool <N>'"),
        (
            &["--queue", "many"],
            "invalid value 'many' for '--queue <N>'",
        ),
        (&["--bind"], "a value is required for '--bind <HOST:PORT>'"),
        (&["--frobnicate"], "unexpected argument '--frobnicate'"),
    ];
    for &(args, want) in common.iter().chain(extra) {
        let (code, stdout, stderr) = run_example(name, args);
        assert_eq!(code, Some(2), "{name} {args:?}: {stderr}");
        assert_eq!(stdout, "", "{name} {args:?}");
        assert!(stderr.starts_with("error: "), "{name} {args:?}: {stderr}");
        assert!(stderr.contains(want), "{name} {args:?}: {stderr}");
    }
}

#[test]
fn hello_echo_mixed_bad_values_exit_2() {
    for name in ["hello", "echo", "mixed"] {
        bad_values_exit_2(name, &[]);
    }
}

#[test]
fn chat_bad_values_exit_2() {
    bad_values_exit_2(
        "chat",
        &[
            (
                &["--poll-timeout", "-1"],
                "invalid value '-1' for '--poll-timeout <SECS>'",
            ),
            (
                &["--history", "100001"],
                "invalid value '100001' for '--history <N>'",
            ),
        ],
    );
}

/// `--help`: status 0, every option with its default on stdout.
#[test]
fn help_lists_every_option_with_its_default() {
    let shared = [
        "--bind <HOST:PORT>",
        "[default: 127.0.0.1:8080]",
        "--workers <N>",
        "--pool <N>",
        "--queue <N>",
        "[default: 256]",
        "--access-log-format <FORMAT>",
        "[default: line]",
        "[possible values: line, combined, json]",
        "--access-log <FILE>",
        "[default: stderr]",
        "--no-access-log",
    ];
    for name in ["hello", "echo", "mixed", "chat"] {
        let (code, stdout, stderr) = run_example(name, &["--help"]);
        assert_eq!(code, Some(0), "{name} --help: {stderr}");
        assert!(
            stdout.contains(&format!("Usage: {name} [OPTIONS]")),
            "{stdout}"
        );
        for want in shared {
            assert!(
                stdout.contains(want),
                "{name} --help lacks {want:?}: {stdout}"
            );
        }
        // Every value-taking option shows its default.
        let options = stdout
            .lines()
            .filter(|l| l.trim_start().starts_with("--") && l.contains('<'));
        for line in options {
            assert!(line.contains("[default: "), "{name} --help: {line}");
        }
    }
    let (_, stdout, _) = run_example("chat", &["--help"]);
    for want in [
        "--poll-timeout <SECS>",
        "[default: 25]",
        "--history <N>",
        "[default: 1000]",
    ] {
        assert!(
            stdout.contains(want),
            "chat --help lacks {want:?}: {stdout}"
        );
    }
}
