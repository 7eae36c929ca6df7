//! Every data-file loader (a user's or a benchmark's published file, possibly broken):
//! the first byte picks the loader, the rest is the file. Any file gives items (with the
//! broken records left out) or an error naming the file, never a panic.
#![no_main]

use jianzhen_suites::SuiteName;
use jianzhen_suites::formats::{agieval, c3, cmath, cmrc2018, fewclue, gaokao, ocnli, simpleqa};
use jianzhen_suites::left_out::{Intake, RecordPolicy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, content)) = data.split_first() else {
        return;
    };
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let write = |relative: &str| {
        let path = dir.path().join(relative);
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        std::fs::write(&path, content).map(|()| path)
    };
    let mut intake = Intake::new(if selector & 0x80 == 0 {
        RecordPolicy::LeaveOut
    } else {
        RecordPolicy::Refuse
    });
    match selector % 12 {
        0 => {
            if let Ok(path) = write("logiqa-zh.jsonl") {
                let _ = agieval::load_file_with(&path, &mut intake);
            }
        }
        1 => {
            if let Ok(path) = write("d-dev.json") {
                let _ = c3::load_file_with(&path, &mut intake);
            }
        }
        2 => {
            if let Ok(path) = write("cmath_dev.jsonl") {
                let _ = cmath::load_file_with(&path, &mut intake);
            }
        }
        3 => {
            if let Ok(path) = write("dev.json") {
                let _ = cmrc2018::load_file_with(&path, &mut intake);
            }
        }
        4 => {
            if let Ok(path) = write("dev.json") {
                let _ = ocnli::load_file_with(&path, &mut intake);
            }
        }
        5 => {
            if let Ok(path) = write("chinese_simpleqa.jsonl") {
                let _ = simpleqa::load_file_with(&path, &mut intake);
            }
        }
        6 => {
            let task = fewclue::FewClueTask::ALL[usize::from(selector / 12) % 9];
            if let Ok(path) = write("test_public.json") {
                let _ = fewclue::load_file_with(task, &path, &mut intake);
            }
        }
        7 => {
            if let Ok(path) = write("Obj_Prompt.json") {
                let _ = gaokao::read_prompts(&path);
            }
        }
        8 | 9 => {
            let (suite, relative) = if selector % 12 == 8 {
                (SuiteName::Ceval, "val/law_val.csv")
            } else {
                (SuiteName::Cmmlu, "test/law.csv")
            };
            if write(relative).is_ok() {
                let split = if suite == SuiteName::Ceval { "val" } else { "test" };
                let _ = jianzhen_suites::load::load_suite_with(
                    suite,
                    dir.path(),
                    split,
                    &[],
                    false,
                    RecordPolicy::LeaveOut,
                );
            }
        }
        10 => {
            // A declarative JSONL suite (the shipped example spec) over the file.
            let spec = jianzhen_suites::spec::load_spec_str(
                include_str!("../../suites/specs/examples/campus_quiz.toml"),
                "campus_quiz.toml",
            );
            if let (Ok(spec), Ok(_)) = (spec, write("test.jsonl")) {
                let _ = jianzhen_suites::spec::load_with_spec(&spec, dir.path(), "test");
            }
        }
        _ => {
            // The shipped C-Eval spec (CSV) over the file.
            if let (Ok(spec), Ok(_)) = (
                jianzhen_suites::spec::builtin_spec(SuiteName::Ceval),
                write("val/law_val.csv"),
            ) {
                let _ = jianzhen_suites::spec::load_with_spec(&spec, dir.path(), "val");
            }
        }
    }
});
