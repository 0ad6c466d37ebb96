//! The shipped udev rule covers the vendor of every handset the tests model, for
//! both libusb (the usb device node) and hidraw.

#[test]
fn the_udev_rule_covers_every_fixture_vendor() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let rules = std::fs::read_to_string(format!("{dir}/udev/70-tsp-rs-telephony.rules"))
        .expect("the rule file ships with the driver");
    let active: Vec<&str> = rules
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    let mut vendors = 0;
    for entry in std::fs::read_dir(format!("{dir}/tests/data")).expect("fixtures") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        // `<model>_<vid>-<pid>.hex`
        let Some(vid) = name
            .rsplit('_')
            .next()
            .and_then(|ids| ids.split('-').next())
        else {
            continue;
        };
        if vid.len() != 4 || !vid.chars().all(|c| c.is_ascii_hexdigit()) {
            continue;
        }
        vendors += 1;
        for subsystem in ["SUBSYSTEM==\"usb\"", "SUBSYSTEM==\"hidraw\""] {
            let covered = active.iter().any(|line| {
                line.starts_with(subsystem)
                    && line.contains(&format!("idVendor}}==\"{vid}\""))
                    && line.contains("TAG+=\"uaccess\"")
            });
            assert!(covered, "{name}: no {subsystem} rule for vendor {vid}");
        }
    }
    assert_eq!(vendors, 9, "every descriptor fixture names its vendor");
    assert!(
        active.iter().all(|l| l.starts_with("ACTION")
            || l.starts_with("SUBSYSTEM")
            || l.starts_with("LABEL"))
    );
}
