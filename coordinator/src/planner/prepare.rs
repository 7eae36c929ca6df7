//! Suite preparation: each suite of a run spec resolved (scoring mode, template, answer
//! reading) and its data loaded into a [`PreparedSuite`] the planner expands into items.
//!
//! Blocking IO (it reads the data files); the controller runs it off the async runtime.
//! Which preparation applies is decided in [`prepare_suites`]: a `spec` path is a
//! declarative suite, a task name (GAOKAO-Bench, C3, …) a task suite, and `ceval` /
//! `cmmlu` the built-in suites.

use std::collections::BTreeMap;
use std::path::Path;

use jianzhen_suites::left_out::RecordPolicy;
use jianzhen_suites::load::load_suite_with;
use jianzhen_suites::peer::{AnswerReading, PeerExtractor, has_framework_reading};
use jianzhen_suites::tasks::{self, TaskSuite};
use jianzhen_suites::{SuiteName, template};

use super::{PreparedSuite, SuiteDefinition, SuiteItems};
use crate::error::CoordinatorError;
use crate::spec::RunSpec;

/// Loads every suite of the spec (blocking IO).
///
/// # Errors
/// Unknown suites or templates, unreadable or malformed data files.
pub fn prepare_suites(spec: &RunSpec) -> Result<Vec<PreparedSuite>, CoordinatorError> {
    spec.suites
        .iter()
        .map(|suite_spec| match &suite_spec.spec {
            Some(path) => prepare_declarative_suite(suite_spec, path),
            None => match suite_spec.name.parse::<TaskSuite>() {
                Ok(task) => prepare_task_suite(suite_spec, task),
                Err(_) => prepare_builtin_suite(suite_spec),
            },
        })
        .collect()
}

fn require_gen_template(
    template: &str,
    origin: &str,
    instead: &str,
) -> Result<(), CoordinatorError> {
    let info = template::template_info(template)?;
    if info.supports(template::ScoringMode::Gen) {
        return Ok(());
    }
    Err(CoordinatorError::InvalidSpec {
        origin: origin.to_string(),
        problem: format!(
            "template `{template}` scores options by log-likelihood, which this version runs only as a prompt reference; choose a generation template such as `{instead}`"
        ),
    })
}

/// The scoring mode a suite of the run spec asks for.
fn scoring_mode(suite_spec: &crate::spec::SuiteSpec) -> template::ScoringMode {
    // The run spec's check refused any other name, so `None` here means "not given".
    suite_spec
        .scoring
        .as_deref()
        .and_then(template::ScoringMode::from_name)
        .unwrap_or(template::ScoringMode::Gen)
}

fn prepare_builtin_suite(
    suite_spec: &crate::spec::SuiteSpec,
) -> Result<PreparedSuite, CoordinatorError> {
    let suite: SuiteName = suite_spec.name.parse()?;
    let scoring = scoring_mode(suite_spec);
    let split = suite_spec
        .split
        .clone()
        .unwrap_or_else(|| suite.default_split().to_string());
    let template = match scoring {
        template::ScoringMode::LoglikEcho => echo_template(suite_spec, suite)?,
        _ => generation_template(suite_spec, suite, scoring)?,
    };
    let extractor = answer_reading(suite_spec, &template, scoring)?;
    // The suite runs through its shipped spec (subject names in prompts, categories,
    // withheld answers, template hash), with the template and scoring this run chose; a
    // test in the suites crate proves the spec's tables equal the published ones.
    let mut shipped = jianzhen_suites::spec::builtin_spec(suite)?;
    shipped.template.builtin = Some(template.clone());
    shipped.scoring = scoring;
    let loaded = load_suite_with(
        suite,
        &suite_spec.data,
        &split,
        &suite_spec.subjects,
        suite_spec.shots > 0,
        RecordPolicy::strict(suite_spec.strict),
    )?;
    Ok(PreparedSuite {
        definition: SuiteDefinition::Declarative(Box::new(shipped)),
        scoring,
        split,
        template,
        shots: suite_spec.shots,
        limit_per_subject: suite_spec.limit_per_subject,
        spread: suite_spec.spread,
        data_dir: display_path(&suite_spec.data),
        items: SuiteItems::Choice(loaded.items),
        fewshot_pool: loaded.fewshot_pool,
        files: loaded.files,
        left_out: loaded.left_out,
        extractor,
    })
}

/// The template of a built-in suite scored from a generated reply (`gen`) or its first
/// token (`loglik_first_token`), which must lead straight to the option letter.
fn generation_template(
    suite_spec: &crate::spec::SuiteSpec,
    suite: SuiteName,
    scoring: template::ScoringMode,
) -> Result<String, CoordinatorError> {
    let template = suite_spec
        .template
        .clone()
        .unwrap_or_else(|| template::default_template(suite).to_string());
    require_gen_template(
        &template,
        &format!("suite {suite}"),
        template::default_template(suite),
    )?;
    if scoring != template::ScoringMode::LoglikFirstToken
        || template::template_info(&template)?.supports(scoring)
    {
        return Ok(template);
    }
    let candidates: Vec<&str> = template::templates()
        .filter(|info| {
            info.suite == suite
                && info.supports(template::ScoringMode::Gen)
                && info.supports(scoring)
        })
        .map(|info| info.name)
        .collect();
    Err(CoordinatorError::InvalidSpec {
        origin: format!("suite {suite}"),
        problem: format!(
            "template `{template}` does not lead straight to the option letter, so it cannot be scored by the first token; use one of: {}",
            candidates.join(", ")
        ),
    })
}

/// The template of a built-in suite scored by echoed log-likelihoods (`loglik_echo`): it
/// must score options by their text (OpenCompass PPL, lm-eval); the default is the
/// suite's OpenCompass PPL template.
fn echo_template(
    suite_spec: &crate::spec::SuiteSpec,
    suite: SuiteName,
) -> Result<String, CoordinatorError> {
    let scoring = template::ScoringMode::LoglikEcho;
    let candidates: Vec<&str> = template::templates()
        .filter(|info| info.suite == suite && info.supports(scoring))
        .map(|info| info.name)
        .collect();
    let template = match &suite_spec.template {
        Some(template) => template.clone(),
        None => candidates
            .iter()
            .find(|name| name.contains("_ppl_"))
            .or(candidates.first())
            .map(|name| (*name).to_string())
            .ok_or_else(|| CoordinatorError::InvalidSpec {
                origin: format!("suite {suite}"),
                problem: "no template of this suite scores options by log-likelihood".to_string(),
            })?,
    };
    if template::template_info(&template)?.supports(scoring) {
        return Ok(template);
    }
    Err(CoordinatorError::InvalidSpec {
        origin: format!("suite {suite}"),
        problem: format!(
            "template `{template}` generates an answer; `loglik_echo` scores each option's text, so use one of: {}",
            candidates.join(", ")
        ),
    })
}

/// A suite described by a declarative spec file: a new CSV or JSONL multiple-choice set
/// runs without code.
fn prepare_declarative_suite(
    suite_spec: &crate::spec::SuiteSpec,
    path: &Path,
) -> Result<PreparedSuite, CoordinatorError> {
    let declarative = jianzhen_suites::spec::load_spec_file(path)?;
    let origin = format!("suite {} ({})", suite_spec.name, path.display());
    if suite_spec.template.is_some() {
        return Err(CoordinatorError::InvalidSpec {
            origin,
            problem: "a declarative suite takes its template from its spec file; remove `template` from the run spec".to_string(),
        });
    }
    // The spec file names its scoring mode; the run spec may name another, which the
    // template must support too.
    let scoring = match suite_spec.scoring {
        Some(_) => scoring_mode(suite_spec),
        None => declarative.scoring,
    };
    if !declarative.supports(scoring) {
        return Err(CoordinatorError::InvalidSpec {
            origin,
            problem: format!(
                "the suite spec's template `{}` supports {}, not {scoring}; change `scoring`",
                declarative.template_name(),
                declarative.supported_modes()
            ),
        });
    }
    let split = suite_spec
        .split
        .clone()
        .unwrap_or_else(|| declarative.default_split().to_string());
    let options = jianzhen_suites::spec::SpecLoadOptions {
        subjects: suite_spec.subjects.clone(),
        skip_fewshot: suite_spec.shots == 0,
        strict: suite_spec.strict,
    };
    let load = jianzhen_suites::spec::load_with_spec_options(
        &declarative,
        &suite_spec.data,
        &split,
        &options,
    )?;
    // The run spec's reading, else the suite spec's own.
    let mut reading_spec = suite_spec.clone();
    if reading_spec.extractor.is_none() {
        reading_spec.extractor = declarative.extractor.clone();
    }
    let extractor = answer_reading(&reading_spec, &declarative.template_name(), scoring)?;
    Ok(PreparedSuite {
        scoring,
        template: declarative.template_name(),
        definition: SuiteDefinition::Declarative(Box::new(declarative)),
        split,
        shots: suite_spec.shots,
        limit_per_subject: suite_spec.limit_per_subject,
        spread: suite_spec.spread,
        data_dir: display_path(&suite_spec.data),
        items: SuiteItems::Choice(load.items),
        fewshot_pool: load.fewshot_pool,
        files: load.files,
        left_out: load.left_out,
        extractor,
    })
}

/// A suite read by `jianzhen_suites::formats` (GAOKAO-Bench, AGIEval, C3, CMRC2018,
/// OCNLI, FewCLUE, Chinese SimpleQA, CMATH): zero-shot, scored by generation or, where the
/// prompt ends on the answer cue, by the first token.
fn prepare_task_suite(
    suite_spec: &crate::spec::SuiteSpec,
    task: TaskSuite,
) -> Result<PreparedSuite, CoordinatorError> {
    let origin = format!("suite {task}");
    let template = suite_spec
        .template
        .clone()
        .unwrap_or_else(|| tasks::prompts::default_template(task).to_string());
    if !tasks::prompts::template_fits(&template, task) {
        return Err(CoordinatorError::InvalidSpec {
            origin,
            problem: format!(
                "template `{template}` is not a template of suite {task}; use one of: {}",
                tasks::prompts::templates_for(task).join(", ")
            ),
        });
    }
    if suite_spec.shots > 0 {
        return Err(CoordinatorError::InvalidSpec {
            origin,
            problem: format!(
                "suite {task} runs zero-shot, as its published OpenCompass configuration does; set `shots = 0` (or drop --shots)"
            ),
        });
    }
    let scoring = scoring_mode(suite_spec);
    match scoring {
        template::ScoringMode::Gen => {}
        template::ScoringMode::LoglikFirstToken => {
            if !tasks::prompts::template(&template)?.leads_to_letter() {
                let offered: Vec<&str> = tasks::prompts::templates()
                    .filter(|candidate| candidate.leads_to_letter())
                    .map(|candidate| candidate.suite)
                    .collect();
                return Err(CoordinatorError::InvalidSpec {
                    origin,
                    problem: format!(
                        "template `{template}` does not end on the answer cue before an option letter, so it cannot be scored by the first token; remove `scoring` (first-token scoring is offered for ceval, cmmlu, {})",
                        offered.join(", ")
                    ),
                });
            }
        }
        template::ScoringMode::LoglikEcho => {
            return Err(CoordinatorError::InvalidSpec {
                origin,
                problem: format!(
                    "suite {task} has no published log-likelihood template here (loglik_echo is for C-Eval, CMMLU and suite specs with their PPL or lm-eval templates); use `gen`, or `loglik_first_token` where the prompt ends on the answer cue"
                ),
            });
        }
    }
    let split = suite_spec
        .split
        .clone()
        .unwrap_or_else(|| task.default_split().to_string());
    let mut load = tasks::load_task_with(
        task,
        &suite_spec.data,
        &split,
        RecordPolicy::strict(suite_spec.strict),
    )?;
    load.keep_subjects(&suite_spec.subjects)?;
    let extractor = answer_reading(suite_spec, &template, scoring)?;
    Ok(PreparedSuite {
        definition: SuiteDefinition::Task(task),
        scoring,
        split,
        template,
        shots: 0,
        limit_per_subject: suite_spec.limit_per_subject,
        spread: suite_spec.spread,
        data_dir: display_path(&suite_spec.data),
        items: SuiteItems::Task(load.items),
        fewshot_pool: BTreeMap::new(),
        files: load.files,
        left_out: load.left_out,
        extractor,
    })
}

/// The answer reading a suite of the run spec asks for (`extractor`): `None` for
/// Jianzhen's own (`jianzhen`, or no key), the template's framework's reading for
/// `opencompass`, or a named peer extractor.
///
/// # Errors
/// [`CoordinatorError::InvalidSpec`] for an unknown name, `opencompass` with a template
/// that has no OpenCompass text reading, or a log-likelihood scoring mode (which reads
/// no text).
fn answer_reading(
    suite_spec: &crate::spec::SuiteSpec,
    template: &str,
    scoring: template::ScoringMode,
) -> Result<Option<AnswerReading>, CoordinatorError> {
    let origin = format!("suite {}", suite_spec.name);
    let reading =
        resolve_extractor(suite_spec.extractor.as_deref(), template).map_err(|problem| {
            CoordinatorError::InvalidSpec {
                origin: origin.clone(),
                problem,
            }
        })?;
    if reading.is_some() && scoring != template::ScoringMode::Gen {
        return Err(CoordinatorError::InvalidSpec {
            origin,
            problem: format!(
                "`extractor` reads generated text, and this suite is scored by {scoring}; drop `extractor` or use `gen`"
            ),
        });
    }
    Ok(reading)
}

/// `jianzhen` (or none) → `None`; `opencompass` → the reading of `template`'s framework
/// (subject by subject for AGIEval); a peer extractor's name → it. The error says what is
/// known.
pub(crate) fn resolve_extractor(
    name: Option<&str>,
    template: &str,
) -> Result<Option<AnswerReading>, String> {
    match name {
        None | Some("jianzhen") => Ok(None),
        Some("opencompass") if has_framework_reading(template) => {
            Ok(Some(AnswerReading::Framework))
        }
        Some("opencompass") => Err(format!(
            "template `{template}` has no OpenCompass text post-processor reproduced here; name one of {} or use `jianzhen`",
            PeerExtractor::ALL.map(PeerExtractor::as_str).join(", ")
        )),
        Some(name) => name
            .parse()
            .map(|extractor| Some(AnswerReading::Named(extractor))),
    }
}

fn display_path(path: &Path) -> String {
    path.display().to_string()
}
