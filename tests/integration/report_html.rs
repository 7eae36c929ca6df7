//! The HTML report in a real browser: headless Chromium opens `report.html`, a screenshot
//! is kept as a test artifact, the page makes no network request of its own, and the
//! numbers it shows equal the polars tables (`scores.csv`).
//!
//! Needs Debian's `chromium` (`.ci/run` installs it and sets JIANZHEN_REQUIRE_BROWSER=1).
//! Without a browser the test says so and passes, unless a browser is required.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use jianzhen_testkit::fixtures::{write_ceval, write_cmmlu};
use jianzhen_testkit::stores::test_store_url;
use jianzhen_testkit::{Script, skipped};

use crate::common::*;

fn find_browser() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("JIANZHEN_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join(name))
                    .find(|candidate| candidate.is_file())
            })
        })
}

fn headless(
    browser: &Path,
    profile: &Path,
    net_log: &Path,
    extra: &[&str],
    page: &Path,
) -> std::process::Output {
    Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--log-net-log={}", net_log.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run headless chromium")
}

/// URLs the page itself asked for. Chromium's own background requests carry the
/// initiator "not an origin"; a page loaded from a file has the opaque origin "null".
fn page_requests(net_log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(net_log).expect("read the net log");
    // The log of a killed browser may lack its closing brackets.
    let text = if text.trim_end().ends_with('}') {
        text
    } else {
        format!("{}]}}", text.trim_end().trim_end_matches(','))
    };
    let log: serde_json::Value = serde_json::from_str(&text).expect("net log is JSON");
    let start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
        .as_i64()
        .expect("event type constant");
    log["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|event| event["type"].as_i64() == Some(start_job))
        .filter(|event| event["params"]["initiator"].as_str() != Some("not an origin"))
        .filter_map(|event| event["params"]["url"].as_str().map(str::to_string))
        .filter(|url| !url.starts_with("file:") && !url.starts_with("data:"))
        .collect()
}

/// `(endpoint, suite, metric) -> text` from the cells that carry data attributes.
fn leaderboard_cells(dom: &str) -> BTreeMap<(String, String, String), String> {
    let attribute = |tag: &str, name: &str| {
        let marker = format!("{name}=\"");
        tag.find(&marker).map(|start| {
            let rest = &tag[start + marker.len()..];
            rest[..rest.find('"').unwrap_or(0)].to_string()
        })
    };
    let mut cells = BTreeMap::new();
    for piece in dom.split("<td ").skip(1) {
        let Some(tag_end) = piece.find('>') else {
            continue;
        };
        let tag = &piece[..tag_end];
        let (Some(endpoint), Some(suite), Some(metric)) = (
            attribute(tag, "data-endpoint"),
            attribute(tag, "data-suite"),
            attribute(tag, "data-metric"),
        ) else {
            continue;
        };
        let content = &piece[tag_end + 1..];
        let text = content[..content.find("</td>").unwrap_or(content.len())].to_string();
        cells.insert((endpoint, suite, metric), text);
    }
    cells
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_report_renders_offline_in_chromium_with_the_polars_numbers() {
    let browser = find_browser();
    if browser.is_none()
        && std::env::var("JIANZHEN_REQUIRE_BROWSER").is_ok_and(|value| value == "1")
    {
        panic!(
            "no Chromium found: install Debian's `chromium` package (apt-get install chromium) or set JIANZHEN_CHROMIUM"
        );
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let ceval_dir = dir.path().join("ceval");
    let cmmlu_dir = dir.path().join("cmmlu");
    let ceval = write_ceval(
        &ceval_dir,
        &[("computer_network", 12), ("law", 9), ("logic", 5)],
    )
    .expect("fixture");
    let cmmlu = write_cmmlu(&cmmlu_dir, &[("agronomy", 10)]).expect("fixture");
    let mut planned = varied_replies("ceval", &ceval);
    planned.extend(varied_replies("cmmlu", &cmmlu));
    let strong = jianzhen_testkit::start(script_for(&planned, Duration::ZERO)).await;
    let weak = jianzhen_testkit::start(Script::new("我觉得答案是A")).await;
    let spec = format!(
        "name = \"两个模型 <report>\"\nshard_size = 5\n[[suites]]\nname = \"ceval\"\ndata = \"{}\"\n[[suites]]\nname = \"cmmlu\"\ndata = \"{}\"\n\
         [[endpoints]]\nname = \"strong\"\nbase_url = \"{}\"\nmodel = \"s\"\nmax_attempts = 1\n\
         [[endpoints]]\nname = \"weak\"\nbase_url = \"{}\"\nmodel = \"w\"\n",
        ceval_dir.display(),
        cmmlu_dir.display(),
        strong.base_url(),
        weak.base_url()
    );
    let cluster = InProcessCluster::start(&test_store_url(dir.path(), "html").await, 2).await;
    let submitted = cluster.controller.submit_run(&spec).await.expect("submit");
    let run_id = submitted.run_id.clone();
    wait_for_run(&cluster.controller, &run_id, Duration::from_secs(60)).await;
    let files = cluster
        .controller
        .render_report(&run_id)
        .await
        .expect("report");
    cluster.shutdown().await;
    let report_dir = dir.path().join("report");
    std::fs::create_dir_all(&report_dir).expect("report dir");
    for file in &files {
        std::fs::write(report_dir.join(&file.name), &file.content).expect("write report file");
    }
    let html = report_text(&files, "report.html");
    assert!(
        html.contains("两个模型 &lt;report&gt;"),
        "names are escaped"
    );
    assert!(!html.contains("<script"), "no script");
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "no remote resource"
    );
    assert_eq!(&report_file(&files, "results.parquet")[..4], b"PAR1");

    // What polars computed, from scores.csv: per (endpoint, suite) n, correct, means.
    let scores = report_text(&files, "scores.csv");
    let mut expected: BTreeMap<(String, String), (i64, i64, Vec<f64>)> = BTreeMap::new();
    let header: Vec<&str> = scores.lines().next().expect("header").split(',').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|column| *column == name)
            .unwrap_or_else(|| panic!("scores.csv has no {name}"))
    };
    let (n_at, correct_at, accuracy_at) = (column("n"), column("correct"), column("accuracy"));
    for line in scores.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let entry = expected
            .entry((fields[0].to_string(), fields[1].to_string()))
            .or_default();
        entry.0 += fields[n_at].parse::<i64>().expect("n");
        entry.1 += fields[correct_at].parse::<i64>().expect("correct");
        entry
            .2
            .push(fields[accuracy_at].parse::<f64>().expect("accuracy"));
    }
    assert_eq!(expected.len(), 4, "2 endpoints x 2 suites");

    let Some(browser) = browser else {
        skipped(
            "report_html::the_html_report_renders_offline_in_chromium_with_the_polars_numbers (browser half)",
            "Chromium not found (set JIANZHEN_REQUIRE_BROWSER=1 to require it)",
        );
        return;
    };
    let page = report_dir.join("report.html");
    let screenshot = dir.path().join("report.png");
    let shot = headless(
        &browser,
        &dir.path().join("profile-shot"),
        &dir.path().join("net-shot.json"),
        &[
            &format!("--screenshot={}", screenshot.display()),
            "--window-size=1280,2400",
            "--hide-scrollbars",
        ],
        &page,
    );
    assert!(
        screenshot.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let png = std::fs::read(&screenshot).expect("read screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        png.len() > 20_000,
        "a real page, not a blank one: {} bytes",
        png.len()
    );
    let artifact = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-screenshot.png");
    std::fs::copy(&screenshot, &artifact).expect("keep the screenshot as an artifact");
    eprintln!("screenshot kept at {}", artifact.display());

    let dom_log = dir.path().join("net-dom.json");
    let dumped = headless(
        &browser,
        &dir.path().join("profile-dom"),
        &dom_log,
        &["--dump-dom"],
        &page,
    );
    let dom = String::from_utf8(dumped.stdout).expect("utf-8 DOM");
    assert!(
        dom.contains("leaderboard-table"),
        "the browser parsed the page: {}",
        String::from_utf8_lossy(&dumped.stderr)
    );
    for log in [dir.path().join("net-shot.json"), dom_log] {
        let requests = page_requests(&log);
        assert!(
            requests.is_empty(),
            "the page made network requests: {requests:?}"
        );
    }

    let cells = leaderboard_cells(&dom);
    let pct = |value: f64| format!("{:.1}", value * 100.0);
    for ((endpoint, suite), (n, correct, accuracies)) in &expected {
        let cell = |metric: &str| {
            cells
                .get(&(endpoint.clone(), suite.clone(), metric.to_string()))
                .unwrap_or_else(|| panic!("no {metric} cell for {endpoint}/{suite}"))
                .clone()
        };
        assert_eq!(cell("n"), n.to_string(), "{endpoint}/{suite} n");
        assert_eq!(
            cell("correct"),
            correct.to_string(),
            "{endpoint}/{suite} correct"
        );
        assert_eq!(
            cell("item_mean"),
            pct(*correct as f64 / *n as f64),
            "{endpoint}/{suite} item mean"
        );
        let subject_mean = accuracies.iter().sum::<f64>() / accuracies.len() as f64;
        assert_eq!(
            cell("subject_mean"),
            pct(subject_mean),
            "{endpoint}/{suite} subject mean"
        );
    }
    // Two endpoints: the paired comparison table is there.
    assert!(dom.contains("comparisons-table"));
}

/// A fontconfig file for Chromium with only these font folders (and its own cache), so
/// a test controls which fonts the "machine" has.
fn fontconfig(path: &Path, dirs: &[PathBuf], cache: &Path) {
    let mut text = String::from(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE fontconfig SYSTEM \"fonts.dtd\">\n<fontconfig>\n",
    );
    for dir in dirs {
        text.push_str(&format!("  <dir>{}</dir>\n", dir.display()));
    }
    text.push_str(&format!(
        "  <cachedir>{}</cachedir>\n</fontconfig>\n",
        cache.display()
    ));
    std::fs::write(path, text).expect("write fonts.conf");
}

fn screenshot_with_fonts(
    browser: &Path,
    work: &Path,
    name: &str,
    fonts_conf: &Path,
    page: &Path,
) -> Vec<u8> {
    let shot = work.join(format!("{name}.png"));
    let output = Command::new(browser)
        .env("FONTCONFIG_FILE", fonts_conf)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--window-size=1000,700",
            "--virtual-time-budget=3000",
        ])
        .arg(format!(
            "--user-data-dir={}",
            work.join(format!("profile-{name}")).display()
        ))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run headless chromium");
    std::fs::read(&shot).unwrap_or_else(|error| {
        panic!(
            "no screenshot {name} ({error}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// On a machine without CJK fonts the report's Chinese still reads: Chromium renders it
/// with fontconfig set to Latin fonts only, and the screenshot is the same as on a
/// machine with CJK fonts — while the same page without its embedded font differs
/// between the two (there its Chinese is empty boxes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_report_carries_its_cjk_font_and_reads_the_same_without_cjk_fonts() {
    let required = std::env::var("JIANZHEN_REQUIRE_BROWSER").is_ok_and(|value| value == "1");
    let browser = find_browser();
    let font = jianzhen_coordinator::font::find_font();
    let (Some(browser), Some(font)) = (browser.clone(), font.clone()) else {
        assert!(
            !required,
            "needs Chromium and a CJK font: apt-get install chromium fonts-noto-cjk (browser {browser:?}, font {font:?})"
        );
        skipped(
            "report_html::the_html_report_carries_its_cjk_font_and_reads_the_same_without_cjk_fonts",
            "Chromium or a CJK font (fonts-noto-cjk) not found",
        );
        return;
    };
    let latin_dirs: Vec<PathBuf> = [
        "/usr/share/fonts/truetype/dejavu",
        "/usr/share/fonts/truetype/liberation",
        "/usr/share/fonts/dejavu",
        "/usr/share/fonts/liberation",
    ]
    .iter()
    .map(PathBuf::from)
    .filter(|dir| dir.is_dir())
    .collect();
    assert!(
        !latin_dirs.is_empty(),
        "no Latin font folder (Debian: fonts-dejavu-core or fonts-liberation, which chromium pulls in)"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let ceval_dir = dir.path().join("ceval");
    write_ceval(&ceval_dir, &[("law", 4), ("logic", 3)]).expect("fixture");
    let server = jianzhen_testkit::start(Script::new("我认为正确答案是B。")).await;
    let spec = format!(
        "name = \"鉴真字体测试\"\n[[suites]]\nname = \"ceval\"\ndata = \"{}\"\n[[endpoints]]\nname = \"模型甲\"\nbase_url = \"{}\"\nmodel = \"m\"\n",
        ceval_dir.display(),
        server.base_url()
    );
    let cluster = InProcessCluster::start(&test_store_url(dir.path(), "font").await, 1).await;
    let submitted = submit_and_wait(&cluster.controller, &spec, Duration::from_secs(60)).await;
    let files = cluster
        .controller
        .render_report(&submitted.run_id)
        .await
        .expect("report");
    cluster.shutdown().await;
    let html = report_text(&files, "report.html");
    let start = html
        .find("@font-face")
        .unwrap_or_else(|| panic!("report.html embeds {} as a font", font.path.display()));
    let end = start + html[start..].find('}').expect("end of the rule") + 1;
    assert!(html[start..end].contains("data:font/otf;base64,"));
    assert!(
        html.len() < 2_000_000,
        "a subset, not the whole font: {} bytes",
        html.len()
    );
    let with_font = dir.path().join("with-font.html");
    std::fs::write(&with_font, &html).expect("write page");
    // The same page with its font rule taken out: what a reader saw before.
    let without_font = dir.path().join("without-font.html");
    std::fs::write(&without_font, format!("{}{}", &html[..start], &html[end..]))
        .expect("write page");

    // The "machine with CJK fonts" has the same Latin fonts plus only the font the
    // report embedded, so the two differ in CJK coverage alone.
    let cjk_dir = dir.path().join("cjk-fonts");
    std::fs::create_dir_all(&cjk_dir).expect("cjk dir");
    std::os::unix::fs::symlink(
        &font.path,
        cjk_dir.join(font.path.file_name().expect("font file name")),
    )
    .expect("link the font");
    let latin_conf = dir.path().join("latin.conf");
    let cjk_conf = dir.path().join("cjk.conf");
    fontconfig(&latin_conf, &latin_dirs, &dir.path().join("fc-latin"));
    let mut all_dirs = latin_dirs.clone();
    all_dirs.push(cjk_dir);
    fontconfig(&cjk_conf, &all_dirs, &dir.path().join("fc-cjk"));
    if let Ok(listed) = Command::new("fc-list")
        .env("FONTCONFIG_FILE", &latin_conf)
        .args([":lang=zh", "file"])
        .output()
    {
        assert!(
            listed.stdout.is_empty(),
            "the Latin-only configuration has CJK fonts: {}",
            String::from_utf8_lossy(&listed.stdout)
        );
    }

    let work = dir.path();
    let without_on_latin =
        screenshot_with_fonts(&browser, work, "without-latin", &latin_conf, &without_font);
    let without_on_cjk =
        screenshot_with_fonts(&browser, work, "without-cjk", &cjk_conf, &without_font);
    let with_on_latin =
        screenshot_with_fonts(&browser, work, "with-latin", &latin_conf, &with_font);
    let with_on_cjk = screenshot_with_fonts(&browser, work, "with-cjk", &cjk_conf, &with_font);
    let artifact = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::write(artifact.join("report-no-cjk-fonts.png"), &with_on_latin)
        .expect("keep the screenshot");
    std::fs::write(
        artifact.join("report-no-cjk-fonts-no-embedded-font.png"),
        &without_on_latin,
    )
    .expect("keep the screenshot");
    assert_ne!(
        without_on_latin, without_on_cjk,
        "the configurations differ in CJK fonts: without an embedded font the page must look different"
    );
    assert_ne!(
        with_on_latin, without_on_latin,
        "on a machine without CJK fonts, the embedded font changes what the page shows"
    );
    assert_eq!(
        with_on_latin,
        with_on_cjk,
        "with its embedded font the page reads the same with or without CJK fonts installed (screenshots in {})",
        artifact.display()
    );
}
