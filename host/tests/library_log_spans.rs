//! Issue 15: a request's log lines name the request and the phone. TAPI shows
//! a user nothing of a request that failed; the log file is where they look,
//! and a line that does not say which request and phone is of no use there.
//! Through the C exports of the built library (one per process: this test has
//! its own binary), the mock completing from its worker, one request completed
//! and one left to miss its deadline.

mod tapi_c;
mod tapi_side;

use std::time::{Duration, Instant};

use tapi_c::Seen;

/// The result TAPI received for `request_id`, waiting up to 10 s for it.
fn completion_of(request_id: u32) -> i32 {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        let seen = tapi_c::SEEN.lock().unwrap_or_else(|e| e.into_inner());
        let found = seen.iter().find_map(|entry| match entry.what {
            Seen::Completion {
                request_id: id,
                result,
            } if id == request_id => Some(result),
            _ => None,
        });
        drop(seen);
        if let Some(result) = found {
            return result;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("no completion of request {request_id} within 10 s");
}

/// The lines of `log` that contain every one of `words`.
fn lines_with<'a>(log: &'a str, words: &[&str]) -> Vec<&'a str> {
    log.lines()
        .filter(|line| words.iter().all(|word| line.contains(word)))
        .collect()
}

#[test]
fn a_requests_log_lines_name_the_request_and_the_phone() {
    let folder = tapi_c::build_dir().join("test-library-log-spans");
    let log_file = folder.join("spans.log");
    let _ = std::fs::remove_file(&log_file);
    let locks = folder.join("locks");
    std::fs::create_dir_all(&locks).expect("a folder");
    let config = format!(
        "drivers = [\"mock\"]\n\
         [log]\nlevel = \"debug\"\nfile = {log:?}\n\
         [deadlines]\nrequest_ms = 300\n\
         [settings.mock]\ncompletion = \"worker\"\nlock_dir = {locks:?}\n",
        log = log_file.display().to_string(),
        locks = locks.display().to_string(),
    );
    tsp_host::testkit::write_trusted(&folder.join("tsp-rs.toml"), &config);
    let (_, tsp) = tapi_c::load_tsp("test-library-log-spans");
    assert!(tsp.start() >= 1, "the mock's phones");
    let handle = tsp.open(0, 0x5150).expect("phone 0 opens");

    assert_eq!(tsp.set_data(7, handle, b"hello\0"), 7);
    assert_eq!(completion_of(7), 0);
    assert_eq!(tsp.dev_specific(8, handle, "fault set_data never"), 8);
    assert_eq!(completion_of(8), 0);
    assert_eq!(tsp.set_data(9, handle, b"lost\0"), 9);
    assert_eq!(
        completion_of(9),
        tsp_core::PhoneError::OperationFailed.to_long(),
        "past its deadline"
    );
    assert_eq!(tsp.close(handle), 0);
    assert_eq!(tsp.shutdown(), 0);

    let log = std::fs::read_to_string(&log_file).expect("the configured log file");
    let phone = format!("phone={handle}");
    assert!(
        !lines_with(&log, &["request_id=7", &phone, "completed"]).is_empty(),
        "the completion of request 7 names it and its phone:\n{log}"
    );
    let missed = lines_with(&log, &["WARN", "request past its deadline"]);
    assert!(
        missed
            .iter()
            .any(|line| line.contains("request_id=9") && line.contains(&phone)),
        "the missed deadline names request 9 and its phone: {missed:?}\n{log}"
    );
}
