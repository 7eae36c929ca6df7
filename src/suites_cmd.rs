//! `jianzhen suites list | show | check`: what Jianzhen knows about suites, and a check of
//! a suite's files before a run spends anything on them. Local: no coordinator needed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use jianzhen_suites::formats::{EvalItem, ItemKind};
use jianzhen_suites::left_out::{self, LeftOut, RecordPolicy};
use jianzhen_suites::load::{DataFileDigest, load_suite_with};
use jianzhen_suites::spec::{
    DeclarativeSuite, SpecLoad, SpecLoadOptions, load_spec_file, load_with_spec_options,
};
use jianzhen_suites::subjects::{subject_info, subjects};
use jianzhen_suites::tasks::{self, TaskSuite, load_task_with};
use jianzhen_suites::template::{default_template, render_chat, template_hash, templates};
use jianzhen_suites::{McItem, SuiteName};

#[derive(Subcommand)]
pub enum SuitesCommand {
    /// The built-in suites and prompt templates.
    List,
    /// A built-in suite's subjects and categories; with --data, item counts and the
    /// prompt of its first item.
    Show(ShowArgs),
    /// Load every file of a suite (a built-in name or a suite spec file) and report counts
    /// and problems.
    Check(CheckArgs),
}

#[derive(Args)]
pub struct ShowArgs {
    /// A built-in suite (ceval, cmmlu, gaokao, c3, fewclue_tnews, ...; see `suites list`)
    /// or the path of a suite spec file (TOML).
    name: String,
    /// The suite's folder, to count items and preview a prompt.
    #[arg(long)]
    data: Option<PathBuf>,
    #[arg(long)]
    split: Option<String>,
    /// Refuse the data at the first record that cannot become an item, as `run --strict`
    /// does, instead of listing the records left out.
    #[arg(long)]
    strict: bool,
}

#[derive(Args)]
pub struct CheckArgs {
    /// A built-in suite name, or the path of a suite spec file (TOML).
    suite: String,
    #[arg(long)]
    data: PathBuf,
    #[arg(long)]
    split: Option<String>,
    /// Refuse the data at the first record that cannot become an item, as `run --strict`
    /// does, instead of listing the records left out.
    #[arg(long)]
    strict: bool,
}

pub fn run(command: SuitesCommand) -> Result<()> {
    match command {
        SuitesCommand::List => {
            list();
            Ok(())
        }
        SuitesCommand::Show(args) => show(&args),
        SuitesCommand::Check(args) => check(&args),
    }
}

fn list() {
    println!("suites:");
    for suite in SuiteName::ALL {
        println!(
            "  {:<8} {} subjects, default split `{}`, default template `{}`",
            suite.as_str(),
            subjects(suite).len(),
            suite.default_split(),
            default_template(suite)
        );
    }
    for suite in TaskSuite::all() {
        println!(
            "  {:<16} default split `{}`, default template `{}`; --data: {}",
            suite.name(),
            suite.default_split(),
            tasks::prompts::default_template(suite),
            suite.expected_layout()
        );
    }
    println!("  (any other multiple-choice set: a suite spec file, see docs/suite-spec.md)");
    println!("templates:");
    for info in templates() {
        let modes: Vec<String> = info.scoring_modes.iter().map(ToString::to_string).collect();
        println!(
            "  {:<28} {:<6} hash {}  modes {:<28} {}",
            info.name,
            info.suite.as_str(),
            template_hash(info.name).unwrap_or_default(),
            modes.join(","),
            info.source
        );
    }
    for info in tasks::prompts::templates() {
        println!(
            "  {:<28} {:<6} hash {}  modes {:<28} {}",
            info.name,
            info.suite,
            tasks::prompts::template_hash(info.name).unwrap_or_default(),
            if info.leads_to_letter() {
                "gen,loglik_first_token"
            } else {
                "gen"
            },
            info.source
        );
    }
}

/// The kind of an item, for counts.
fn kind_name(item: &EvalItem) -> &'static str {
    match &item.kind {
        ItemKind::SingleChoice { .. } => "single choice",
        ItemKind::MultiChoice { .. } => "multi-select",
        ItemKind::MultiQuestion { .. } => "sub-questions",
        ItemKind::Span { .. } => "span",
        ItemKind::Numeric { .. } => "number",
        ItemKind::FreeText { .. } => "free text",
        ItemKind::Withheld { .. } => "choice, answer withheld",
    }
}

/// `suites show` / `suites check` for a task suite: counts by subject and kind, the
/// files, and (with `preview`) the prompt of the first item.
fn describe_task(
    suite: TaskSuite,
    data: &Path,
    split: &str,
    preview: bool,
    policy: RecordPolicy,
) -> Result<()> {
    let load = load_task_with(suite, data, split, policy)
        .with_context(|| format!("suite `{suite}` does not load from {}", data.display()))?;
    let template = tasks::prompts::default_template(suite);
    println!(
        "suite `{suite}` from {}: ok; split `{split}`, template `{template}` (hash {})",
        data.display(),
        tasks::prompts::template_hash(template)?
    );
    let mut by_subject: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for item in &load.items {
        *by_subject.entry(item.subject.as_str()).or_insert(0) += 1;
        *by_kind.entry(kind_name(item)).or_insert(0) += 1;
    }
    println!(
        "{} items in {} subjects; kinds: {}",
        load.items.len(),
        by_subject.len(),
        by_kind
            .iter()
            .map(|(kind, count)| format!("{kind} {count}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (subject, count) in &by_subject {
        println!("  {subject:<40} {count:>6}");
    }
    println!("files:");
    print_files(&load.files);
    print_left_out(&load.left_out);
    if let Some(file) = tasks::submission::file_name(suite).filter(|_| suite.answers_hidden(split))
    {
        println!(
            "note: split `{split}` withholds its labels (hidden split): a run reports no accuracy for it and writes its predictions to {file}, one line per record in file order, for the leaderboard"
        );
    }
    if preview && let Some(first) = load.items.first() {
        let gold = tasks::prompts::item_gold(template, first)?;
        println!(
            "\nprompt of {} (`{template}`; graded as {}, gold {}):",
            first.id,
            gold.kind.as_str(),
            if gold.gold.is_empty() {
                "withheld (hidden split)"
            } else {
                gold.gold.as_str()
            }
        );
        for message in tasks::prompts::render(template, first)? {
            println!("[{}]\n{}", message.role, message.content);
        }
    }
    Ok(())
}

/// `suites show SPEC.toml`: what a suite spec declares, and with data, counts and a
/// prompt preview.
fn show_spec(path: &Path, data: Option<&Path>, split: Option<&str>, strict: bool) -> Result<()> {
    let spec = load_spec_file(path)?;
    println!(
        "suite `{}` version {} (spec {}), template `{}` (hash {})",
        spec.name,
        spec.version,
        path.display(),
        spec.template_name(),
        spec.template_hash()?
    );
    let Some(data) = data else {
        println!("(give --data DIR to count items and preview a prompt)");
        return Ok(());
    };
    let (split, load) = load_spec_data(&spec, path, data, split, strict)?;
    let counts = count_by_subject(&load.items);
    println!(
        "split `{split}`: {} items in {} subjects",
        load.items.len(),
        counts.len()
    );
    print_spec_subjects(&spec, &counts);
    print_left_out(&load.left_out);
    if let Some(first) = load.items.first() {
        println!("\nprompt of {} (0-shot):", first.id);
        for message in spec.render_chat(first, &[])? {
            println!("[{}]\n{}", message.role, message.content);
        }
    }
    Ok(())
}

/// Loads `split` (default: the spec's) of a spec-described suite from `data`, naming the
/// spec and folder when it does not load.
fn load_spec_data(
    spec: &DeclarativeSuite,
    path: &Path,
    data: &Path,
    split: Option<&str>,
    strict: bool,
) -> Result<(String, SpecLoad)> {
    let split = split.map_or_else(|| spec.default_split().to_string(), str::to_string);
    let options = SpecLoadOptions {
        strict,
        ..SpecLoadOptions::default()
    };
    let load = load_with_spec_options(spec, data, &split, &options).with_context(|| {
        format!(
            "suite `{}` (spec {}) does not load from {}",
            spec.name,
            path.display(),
            data.display()
        )
    })?;
    Ok((split, load))
}

/// One line per subject with its count and the categories the spec gives it.
fn print_spec_subjects(spec: &DeclarativeSuite, counts: &BTreeMap<&str, usize>) {
    for (subject, count) in counts {
        println!(
            "  {subject:<40} {count:>6}  categories: {}",
            spec.categories_of(subject).join(", ")
        );
    }
}

fn count_by_subject(items: &[McItem]) -> BTreeMap<&str, usize> {
    let mut counts = BTreeMap::new();
    for item in items {
        *counts.entry(item.subject.as_str()).or_insert(0) += 1;
    }
    counts
}

fn show(args: &ShowArgs) -> Result<()> {
    let as_path = Path::new(&args.name);
    if as_path
        .extension()
        .is_some_and(|extension| extension == "toml")
    {
        return show_spec(
            as_path,
            args.data.as_deref(),
            args.split.as_deref(),
            args.strict,
        );
    }
    if let Ok(task) = args.name.parse::<TaskSuite>() {
        let split = args
            .split
            .clone()
            .unwrap_or_else(|| task.default_split().to_string());
        let Some(data) = &args.data else {
            let template = tasks::prompts::default_template(task);
            println!(
                "{task}: default split `{}`, template `{template}` (hash {}), --data: {}",
                task.default_split(),
                tasks::prompts::template_hash(template)?,
                task.expected_layout()
            );
            println!("(give --data DIR to count items and preview a prompt)");
            return Ok(());
        };
        return describe_task(task, data, &split, true, RecordPolicy::strict(args.strict));
    }
    let suite: SuiteName = args.name.parse()?;
    let split = args
        .split
        .clone()
        .unwrap_or_else(|| suite.default_split().to_string());
    let loaded = match &args.data {
        Some(data) => Some(load_suite_with(
            suite,
            data,
            &split,
            &[],
            true,
            RecordPolicy::strict(args.strict),
        )?),
        None => None,
    };
    let counts = loaded
        .as_ref()
        .map(|loaded| count_by_subject(&loaded.items));
    println!(
        "{suite}: {} subjects, template `{}`",
        subjects(suite).len(),
        default_template(suite)
    );
    println!(
        "{:<44} {:<14} {:<34} {}",
        "subject",
        "name",
        "categories",
        if counts.is_some() { split.as_str() } else { "" }
    );
    for info in subjects(suite) {
        let categories: Vec<String> = info.categories().iter().map(ToString::to_string).collect();
        let count = counts
            .as_ref()
            .map(|counts| counts.get(info.key).copied().unwrap_or(0).to_string())
            .unwrap_or_default();
        println!(
            "{:<44} {:<14} {:<34} {count}",
            info.key,
            info.chinese_name,
            categories.join(", ")
        );
    }
    if let Some(loaded) = &loaded {
        println!(
            "\n{} items in split `{split}`; {} few-shot examples",
            loaded.items.len(),
            loaded.fewshot_pool.values().map(Vec::len).sum::<usize>()
        );
        print_left_out(&loaded.left_out);
        if let Some(first) = loaded.items.first() {
            let name = subject_info(suite, &first.subject)
                .map_or(first.subject.as_str(), |info| info.chinese_name);
            let messages = render_chat(default_template(suite), name, first, &[])?;
            println!(
                "\nprompt of {} (0-shot, `{}`):",
                first.id,
                default_template(suite)
            );
            for message in messages {
                println!("[{}]\n{}", message.role, message.content);
            }
        }
    }
    Ok(())
}

fn print_files(files: &[DataFileDigest]) {
    for file in files {
        println!(
            "  {:<60} {:>6} rows  sha256 {}",
            file.relative_path,
            file.rows,
            &file.sha256[..16.min(file.sha256.len())]
        );
    }
}

/// The records left out, counted per file and subject and then one by one with their
/// reasons; `--strict` turns the first into an error instead.
fn print_left_out(records: &[LeftOut]) {
    if records.is_empty() {
        println!("records left out: none");
        return;
    }
    println!(
        "records left out: {} (they cannot become items, or the suite's own rules leave them out; --strict refuses the former instead)",
        records.len()
    );
    for ((file, subject), count) in left_out::counts(records) {
        let subject = if subject.is_empty() { "?" } else { &subject };
        println!("  {file:<60} {subject:<30} {count:>6}");
    }
    for record in records.iter().take(LEFT_OUT_LISTED) {
        println!("  - {}", record.describe());
    }
    if records.len() > LEFT_OUT_LISTED {
        println!(
            "  … and {} more (all are in a run's manifest.json)",
            records.len() - LEFT_OUT_LISTED
        );
    }
}

/// Left-out records listed one by one; published files hold a handful, a wrong spec
/// could leave out thousands.
const LEFT_OUT_LISTED: usize = 100;

fn check(args: &CheckArgs) -> Result<()> {
    let as_path = Path::new(&args.suite);
    if as_path
        .extension()
        .is_some_and(|extension| extension == "toml")
    {
        let spec = load_spec_file(as_path)?;
        let (split, load) = load_spec_data(
            &spec,
            as_path,
            &args.data,
            args.split.as_deref(),
            args.strict,
        )?;
        let counts = count_by_subject(&load.items);
        println!(
            "suite `{}` version {} from {}: ok",
            spec.name,
            spec.version,
            args.data.display()
        );
        println!(
            "split `{split}`: {} items in {} subjects; {} few-shot examples",
            load.items.len(),
            counts.len(),
            load.fewshot_pool.values().map(Vec::len).sum::<usize>()
        );
        print_spec_subjects(&spec, &counts);
        println!(
            "template `{}` (hash {})",
            spec.template_name(),
            spec.template_hash()?
        );
        println!("files:");
        print_files(&load.files);
        print_left_out(&load.left_out);
        return Ok(());
    }
    if let Ok(task) = args.suite.parse::<TaskSuite>() {
        let split = args
            .split
            .clone()
            .unwrap_or_else(|| task.default_split().to_string());
        return describe_task(
            task,
            &args.data,
            &split,
            false,
            RecordPolicy::strict(args.strict),
        );
    }
    let Ok(suite) = args.suite.parse::<SuiteName>() else {
        bail!(
            "`{}` is neither a built-in suite (ceval, cmmlu, {}) nor a suite spec file ending in .toml",
            args.suite,
            tasks::known_task_names()
        );
    };
    let split = args
        .split
        .clone()
        .unwrap_or_else(|| suite.default_split().to_string());
    let loaded = load_suite_with(
        suite,
        &args.data,
        &split,
        &[],
        true,
        RecordPolicy::strict(args.strict),
    )
    .with_context(|| format!("suite `{suite}` does not load from {}", args.data.display()))?;
    let counts = count_by_subject(&loaded.items);
    let unmapped: Vec<&&str> = counts
        .keys()
        .filter(|subject| subject_info(suite, subject).is_none())
        .collect();
    let hidden = loaded
        .items
        .iter()
        .filter(|item| item.answer.is_none())
        .count();
    println!("suite `{suite}` from {}: ok", args.data.display());
    println!(
        "split `{split}`: {} items in {} subjects; {} few-shot examples",
        loaded.items.len(),
        counts.len(),
        loaded.fewshot_pool.values().map(Vec::len).sum::<usize>()
    );
    if hidden > 0 {
        println!(
            "note: {hidden} items have no gold answer (hidden split): a run reports no accuracy for them and writes their predictions to {suite}_submission.json for the benchmark's leaderboard"
        );
    }
    if !unmapped.is_empty() {
        println!("note: subjects without a published category (counted as Other): {unmapped:?}");
    }
    println!("files:");
    print_files(&loaded.files);
    print_left_out(&loaded.left_out);
    Ok(())
}
