//! FewCLUE: nine tasks under `{datasets_dir}/{task}/`, each file JSONL (`test_public.json`
//! is the labelled public test set, `dev_few_all.json` the merged few-shot dev set).
//!
//! Every task has its own fields; all become single-choice items whose options are the
//! task's label vocabulary, in the order given here, and whose answer is the gold
//! label's position:
//!
//! | task | question | other fields | options |
//! |---|---|---|---|
//! | tnews | `sentence` | `keywords`, `label_desc` | Chinese names (`label_zh`) from `label_index2en2zh.json`, whose `label` is a string while the data's is an integer |
//! | iflytek | `sentence` | | IFLYTEK's 119 labels by id ([`IFLYTEK_LABELS`]); each record's `label_des` (not `label_desc`) must match its id |
//! | ocnli | `sentence2` (context `sentence1`) | `genre` | entailment, neutral, contradiction; `-` records dropped |
//! | cluewsc | `text` | `span1_text`, `span1_index`, `span2_text`, `span2_index` | false, true |
//! | csl | `abst` | `keywords` (joined with `，`) | 0, 1 |
//! | csldcp | `content` | | the lines of `labels_all.txt` |
//! | bustm | `sentence1` | `sentence2` | 0, 1 |
//! | eprstmt | `sentence` | | Negative, Positive |
//! | chid | `content` (blank marked `#idiom#`) | | the record's own `candidates` |
//!
//! Record ids are `id`, or `idx` (cluewsc); a number or a string. The item id is
//! `{task}/{file stem}/{record id}`; repeated record ids (csldcp's test set has 49) get
//! their line appended.
//!
//! Each task's unlabelled `test.json` (the split FewCLUE's leaderboard scores) is read by
//! [`load_withheld_with`]: the same fields without a label, as [`ItemKind::Withheld`]
//! items whose replies are predictions for the leaderboard.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::SuiteError;
use crate::formats::json::{self, kind_of, string};
use crate::formats::{EvalItem, ItemKind, Options, RecordSource, make_ids_unique, ocnli};
use crate::left_out::{Intake, RecordPolicy};

/// The nine FewCLUE tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FewClueTask {
    Tnews,
    Iflytek,
    Ocnli,
    Cluewsc,
    Csl,
    Csldcp,
    Bustm,
    Eprstmt,
    Chid,
}

impl FewClueTask {
    pub const ALL: [FewClueTask; 9] = [
        FewClueTask::Tnews,
        FewClueTask::Iflytek,
        FewClueTask::Ocnli,
        FewClueTask::Cluewsc,
        FewClueTask::Csl,
        FewClueTask::Csldcp,
        FewClueTask::Bustm,
        FewClueTask::Eprstmt,
        FewClueTask::Chid,
    ];

    /// The task's folder name under `datasets/`.
    pub fn as_str(self) -> &'static str {
        match self {
            FewClueTask::Tnews => "tnews",
            FewClueTask::Iflytek => "iflytek",
            FewClueTask::Ocnli => "ocnli",
            FewClueTask::Cluewsc => "cluewsc",
            FewClueTask::Csl => "csl",
            FewClueTask::Csldcp => "csldcp",
            FewClueTask::Bustm => "bustm",
            FewClueTask::Eprstmt => "eprstmt",
            FewClueTask::Chid => "chid",
        }
    }
}

impl fmt::Display for FewClueTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FewClueTask {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        FewClueTask::ALL
            .into_iter()
            .find(|task| task.as_str() == name.to_ascii_lowercase())
            .ok_or_else(|| {
                format!(
                    "unknown FewCLUE task `{name}`; known tasks: {}",
                    FewClueTask::ALL.map(FewClueTask::as_str).join(", ")
                )
            })
    }
}

/// The tnews label file, beside the data files.
pub const TNEWS_LABEL_FILE: &str = "label_index2en2zh.json";
/// The csldcp label file, beside the data files.
pub const CSLDCP_LABEL_FILE: &str = "labels_all.txt";

/// Loads `{datasets_dir}/{task}/{file_name}`, e.g. `test_public.json`.
///
/// # Errors
/// As [`load_file`].
pub fn load_task(
    datasets_dir: &Path,
    task: FewClueTask,
    file_name: &str,
) -> Result<Vec<EvalItem>, SuiteError> {
    load_file(task, &datasets_dir.join(task.as_str()).join(file_name))
}

/// Loads one FewCLUE file of `task`; label files (tnews, csldcp) are read from the same
/// folder.
///
/// # Errors
/// [`SuiteError::Io`] (also for a missing label file); [`SuiteError::Malformed`] naming
/// the line of a record that is not JSON, lacks the task's fields, or has a label
/// outside the task's vocabulary.
pub fn load_file(task: FewClueTask, path: &Path) -> Result<Vec<EvalItem>, SuiteError> {
    load_file_with(task, path, &mut Intake::new(RecordPolicy::Refuse))
}

/// Whether a file's records carry their gold label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Labels {
    Published,
    /// The unlabelled `test.json`: no label is read, items are [`ItemKind::Withheld`].
    Withheld,
}

/// Loads `task`'s unlabelled `test.json` (the split FewCLUE's leaderboard scores): every
/// record becomes an [`ItemKind::Withheld`] item over the task's labels, in file order,
/// since the leaderboard compares a submission line by line. Labels in a record, if any,
/// are not read.
///
/// # Errors
/// As [`load_file_with`].
pub fn load_withheld_with(
    task: FewClueTask,
    path: &Path,
    intake: &mut Intake,
) -> Result<Vec<EvalItem>, SuiteError> {
    load_records(task, path, intake, Labels::Withheld)
}

/// [`load_file`], passing each record through `intake` (left out or refused). The
/// ocnli task's records labelled `-` are left out under any policy, as FewCLUE does.
///
/// # Errors
/// As [`load_file`] for whole-file problems and label files; a record's problem under
/// [`RecordPolicy::Refuse`]; [`SuiteError::NothingReadable`].
pub fn load_file_with(
    task: FewClueTask,
    path: &Path,
    intake: &mut Intake,
) -> Result<Vec<EvalItem>, SuiteError> {
    load_records(task, path, intake, Labels::Published)
}

fn load_records(
    task: FewClueTask,
    path: &Path,
    intake: &mut Intake,
    labels: Labels,
) -> Result<Vec<EvalItem>, SuiteError> {
    let folder = path.parent().unwrap_or(Path::new("."));
    let stem = json::file_stem(path);
    let records = json::read_lines(path)?;
    let vocabulary = match task {
        FewClueTask::Tnews => Some(tnews_labels(&folder.join(TNEWS_LABEL_FILE))?),
        FewClueTask::Csldcp => Some(csldcp_labels(&folder.join(CSLDCP_LABEL_FILE))?),
        // Unlabelled records have no `label_des` to check against the list.
        FewClueTask::Iflytek if labels == Labels::Withheld => Some(iflytek_vocabulary()),
        FewClueTask::Iflytek => Some(iflytek_labels(&records)?),
        _ => None,
    };
    let mut items = Vec::with_capacity(records.len());
    for (source, record) in records {
        let item = match task {
            FewClueTask::Ocnli if labels == Labels::Withheld => {
                ocnli::read_withheld_record(&record, "fewclue", task.as_str(), &stem, source).map(
                    |mut item| {
                        item.id = format!("{task}/{}", item.id);
                        item
                    },
                )
            }
            FewClueTask::Ocnli => {
                match ocnli::read_record(&record, "fewclue", task.as_str(), &stem, source) {
                    Ok(Ok(mut item)) => {
                        item.id = format!("{task}/{}", item.id);
                        Ok(item)
                    }
                    // Unlabelled (`-`) records cannot be scored; FewCLUE drops them too.
                    Ok(Err(source)) => {
                        intake.leave_out(ocnli::no_agreement(&source, task.as_str()));
                        continue;
                    }
                    Err(error) => Err(error),
                }
            }
            _ => read_record(task, &record, &stem, vocabulary.as_ref(), labels, source),
        };
        if let Some(item) = intake.take(item, task.as_str())? {
            items.push(item);
        }
    }
    intake.finish_file(path, items.len())?;
    make_ids_unique(&mut items);
    Ok(items)
}

/// A task's options in order: their texts, the label each is written as in the files
/// (and submitted as), and the key a template's fixed label list matches each by.
type OptionLists = (Vec<String>, Vec<String>, Vec<String>);

/// A label vocabulary: the option texts, and the key each record's label is matched on.
struct Vocabulary {
    options: Vec<String>,
    keys: Vec<String>,
    /// What a template's fixed label list matches each option by: tnews's `label_desc`
    /// (`news_story`), else the key.
    descriptions: Vec<String>,
}

impl Vocabulary {
    fn position(&self, key: &str, source: &RecordSource, file: &str) -> Result<usize, SuiteError> {
        self.keys
            .iter()
            .position(|known| known == key)
            .ok_or_else(|| source.malformed(format!("label `{key}` is not in {file}")))
    }
}

fn read_record(
    task: FewClueTask,
    record: &Map<String, Value>,
    stem: &str,
    vocabulary: Option<&Vocabulary>,
    labels: Labels,
    source: RecordSource,
) -> Result<EvalItem, SuiteError> {
    let withheld = labels == Labels::Withheld;
    let record_id = match (record.get("id"), record.get("idx")) {
        (Some(_), _) => json::scalar_text(record, "id", &source)?,
        (None, Some(_)) => json::scalar_text(record, "idx", &source)?,
        (None, None) => return Err(source.malformed("missing field `id` (or `idx`)")),
    };
    let mut fields = BTreeMap::new();
    let fixed = |labels: &[&str]| labels.iter().map(|label| label.to_string()).collect();
    // A withheld file's records have no answer to read.
    let fixed_answer = |labels: &[&str]| -> Result<Option<usize>, SuiteError> {
        if withheld {
            return Ok(None);
        }
        let label = json::scalar_text(record, "label", &source)?;
        labels
            .iter()
            .position(|known| *known == label)
            .map(Some)
            .ok_or_else(|| {
                source.malformed(format!(
                    "label `{label}` is not one of {}",
                    labels.join(", ")
                ))
            })
    };
    let need_vocabulary = || vocabulary.ok_or_else(|| source.malformed("no label vocabulary"));
    let label_answer = |label: String, file: &str| -> Result<Option<usize>, SuiteError> {
        need_vocabulary()?.position(&label, &source, file).map(Some)
    };
    let vocabulary_parts = || -> Result<OptionLists, SuiteError> {
        let vocabulary = need_vocabulary()?;
        Ok((
            vocabulary.options.clone(),
            vocabulary.keys.clone(),
            vocabulary.descriptions.clone(),
        ))
    };
    let fixed_parts =
        |labels: &[&str]| -> OptionLists { (fixed(labels), fixed(labels), fixed(labels)) };
    // (question, option texts, label of each option, key of each option, answer)
    type Parts = (String, Vec<String>, Vec<String>, Vec<String>, Option<usize>);
    let parts: Parts = match task {
        FewClueTask::Tnews => {
            fields.insert(
                "keywords".to_string(),
                json::optional_string(record, "keywords", &source)?.unwrap_or_default(),
            );
            // OpenCompass maps tnews answers by `label_desc` (`news_story`), kept here.
            if let Some(label_desc) = json::optional_string(record, "label_desc", &source)? {
                fields.insert("label_desc".to_string(), label_desc);
            }
            let (options, labels, keys) = vocabulary_parts()?;
            let answer = if withheld {
                None
            } else {
                label_answer(
                    json::scalar_text(record, "label", &source)?,
                    TNEWS_LABEL_FILE,
                )?
            };
            (
                string(record, "sentence", &source)?,
                options,
                labels,
                keys,
                answer,
            )
        }
        FewClueTask::Iflytek => {
            let (options, labels, keys) = vocabulary_parts()?;
            let answer = if withheld {
                None
            } else {
                label_answer(
                    json::scalar_text(record, "label", &source)?,
                    "the labels of this file",
                )?
            };
            (
                string(record, "sentence", &source)?,
                options,
                labels,
                keys,
                answer,
            )
        }
        FewClueTask::Csldcp => {
            let (options, labels, keys) = vocabulary_parts()?;
            let answer = if withheld {
                None
            } else {
                label_answer(string(record, "label", &source)?, CSLDCP_LABEL_FILE)?
            };
            (
                string(record, "content", &source)?,
                options,
                labels,
                keys,
                answer,
            )
        }
        FewClueTask::Cluewsc => {
            let target = match record.get("target") {
                Some(Value::Object(target)) => target,
                Some(other) => {
                    return Err(source.malformed(format!(
                        "`target` should be an object, found {}",
                        kind_of(other)
                    )));
                }
                None => return Err(source.malformed("missing field `target`")),
            };
            for key in ["span1_text", "span1_index", "span2_text", "span2_index"] {
                fields.insert(key.to_string(), json::scalar_text(target, key, &source)?);
            }
            let names = ["false", "true"];
            let (options, labels, keys) = fixed_parts(&names);
            (
                string(record, "text", &source)?,
                options,
                labels,
                keys,
                fixed_answer(&names)?,
            )
        }
        FewClueTask::Csl => {
            let keywords = json::strings(record, "keyword", &source)?;
            fields.insert("keywords".to_string(), keywords.join("，"));
            let names = ["0", "1"];
            let (options, labels, keys) = fixed_parts(&names);
            (
                string(record, "abst", &source)?,
                options,
                labels,
                keys,
                fixed_answer(&names)?,
            )
        }
        FewClueTask::Bustm => {
            fields.insert(
                "sentence2".to_string(),
                string(record, "sentence2", &source)?,
            );
            let names = ["0", "1"];
            let (options, labels, keys) = fixed_parts(&names);
            (
                string(record, "sentence1", &source)?,
                options,
                labels,
                keys,
                fixed_answer(&names)?,
            )
        }
        FewClueTask::Eprstmt => {
            let names = ["Negative", "Positive"];
            let (options, labels, keys) = fixed_parts(&names);
            (
                string(record, "sentence", &source)?,
                options,
                labels,
                keys,
                fixed_answer(&names)?,
            )
        }
        FewClueTask::Chid => {
            let candidates = json::strings(record, "candidates", &source)?;
            // chid's submission names the chosen candidate by its index.
            let indices: Vec<String> = (0..candidates.len())
                .map(|index| index.to_string())
                .collect();
            let answer = if withheld {
                None
            } else {
                let answer = json::index(record, "answer", &source)?;
                if answer >= candidates.len() {
                    return Err(source.malformed(format!(
                        "`answer` {answer} is past the {} candidates",
                        candidates.len()
                    )));
                }
                Some(answer)
            };
            (
                string(record, "content", &source)?,
                candidates,
                indices.clone(),
                indices,
                answer,
            )
        }
        FewClueTask::Ocnli => {
            return Err(source.malformed("ocnli records are read by the OCNLI reader"));
        }
    };
    let (question, options, labels, keys, answer) = parts;
    let kind = match answer {
        Some(answer) => ItemKind::SingleChoice {
            options: Options::Listed(options),
            answer,
        },
        None => ItemKind::Withheld {
            options: Options::Listed(options),
            labels,
            keys,
        },
    };
    Ok(EvalItem {
        id: format!("{task}/{stem}/{record_id}"),
        suite: "fewclue".to_string(),
        subject: task.as_str().to_string(),
        context: None,
        question,
        fields,
        kind,
        points: None,
        source,
    })
}

/// tnews: one JSON object a line, `{"label": "100", "label_desc": "news_story",
/// "label_zh": "故事"}`; keys are the label strings, options the Chinese names.
fn tnews_labels(path: &Path) -> Result<Vocabulary, SuiteError> {
    let mut vocabulary = Vocabulary {
        options: Vec::new(),
        keys: Vec::new(),
        descriptions: Vec::new(),
    };
    for (source, record) in json::read_lines(path)? {
        vocabulary
            .keys
            .push(json::scalar_text(&record, "label", &source)?);
        vocabulary
            .options
            .push(string(&record, "label_zh", &source)?);
        vocabulary
            .descriptions
            .push(string(&record, "label_desc", &source)?);
    }
    Ok(vocabulary)
}

/// csldcp: one label a line; the label is both key and option.
fn csldcp_labels(path: &Path) -> Result<Vocabulary, SuiteError> {
    let labels: Vec<String> = json::read_text(path)?
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect();
    Ok(Vocabulary {
        options: labels.clone(),
        descriptions: labels.clone(),
        keys: labels,
    })
}

/// IFLYTEK's 119 app categories, by label id, as CLUE defines them. FewCLUE ships no label
/// file for iflytek and its files use only some ids (`test_public` 98, `dev_few_all`
/// 117), so the vocabulary, and with it the label list a prompt shows, is this whole set
/// whatever the split. The 117 names the files use agree with it id by id (checked on
/// FewCLUE @ 62a02c6f); ids 43 (影视娱乐) and 52 (成人) appear in no FewCLUE file.
pub const IFLYTEK_LABELS: [&str; 119] = [
    "打车",
    "地图导航",
    "免费WIFI",
    "租车",
    "同城服务",
    "快递物流",
    "婚庆",
    "家政",
    "公共交通",
    "政务",
    "社区服务",
    "薅羊毛",
    "魔幻",
    "仙侠",
    "卡牌",
    "飞行空战",
    "射击游戏",
    "休闲益智",
    "动作类",
    "体育竞技",
    "棋牌中心",
    "经营养成",
    "策略",
    "MOBA",
    "辅助工具",
    "约会社交",
    "即时通讯",
    "工作社交",
    "论坛圈子",
    "婚恋社交",
    "情侣社交",
    "社交工具",
    "生活社交",
    "微博博客",
    "新闻",
    "漫画",
    "小说",
    "技术",
    "教辅",
    "问答交流",
    "搞笑",
    "杂志",
    "百科",
    "影视娱乐",
    "求职",
    "兼职",
    "视频",
    "短视频",
    "音乐",
    "直播",
    "电台",
    "K歌",
    "成人",
    "中小学",
    "职考",
    "公务员",
    "英语",
    "视频教育",
    "高等教育",
    "成人教育",
    "艺术",
    "语言(非英语)",
    "旅游资讯",
    "综合预定",
    "民航",
    "铁路",
    "酒店",
    "行程管理",
    "民宿短租",
    "出国",
    "工具",
    "亲子儿童",
    "母婴",
    "驾校",
    "违章",
    "汽车咨询",
    "汽车交易",
    "日常养车",
    "行车辅助",
    "租房",
    "买房",
    "装修家居",
    "电子产品",
    "问诊挂号",
    "养生保健",
    "医疗服务",
    "减肥瘦身",
    "美妆美业",
    "菜谱",
    "餐饮店",
    "体育咨讯",
    "运动健身",
    "支付",
    "保险",
    "股票",
    "借贷",
    "理财",
    "彩票",
    "记账",
    "银行",
    "美颜",
    "影像剪辑",
    "摄影修图",
    "相机",
    "绘画",
    "二手",
    "电商",
    "团购",
    "外卖",
    "电影票务",
    "社区超市",
    "购物咨询",
    "笔记",
    "办公",
    "日程管理",
    "女性",
    "经营",
    "收款",
    "其他",
];

/// iflytek's vocabulary: [`IFLYTEK_LABELS`]. Every record's `label` id must name its
/// `label_des` there.
fn iflytek_labels(records: &[json::LineRecord]) -> Result<Vocabulary, SuiteError> {
    for (source, record) in records {
        let id = json::index(record, "label", source)?;
        let name = string(record, "label_des", source)?;
        match IFLYTEK_LABELS.get(id) {
            None => {
                return Err(source.malformed(format!(
                    "label {id} is not an IFLYTEK label id (0 to {})",
                    IFLYTEK_LABELS.len() - 1
                )));
            }
            Some(known) if *known != name => {
                return Err(source.malformed(format!(
                    "label {id} is `{name}` here but `{known}` in IFLYTEK's label list"
                )));
            }
            Some(_) => {}
        }
    }
    Ok(iflytek_vocabulary())
}

/// [`IFLYTEK_LABELS`] as a vocabulary keyed by label id (`"0"` … `"118"`).
fn iflytek_vocabulary() -> Vocabulary {
    let keys: Vec<String> = (0..IFLYTEK_LABELS.len()).map(|id| id.to_string()).collect();
    Vocabulary {
        descriptions: keys.clone(),
        keys,
        options: IFLYTEK_LABELS.map(str::to_string).to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, task: FewClueTask, name: &str, text: &str) {
        let folder = dir.join(task.as_str());
        std::fs::create_dir_all(&folder).expect("mkdir");
        std::fs::write(folder.join(name), text).expect("write");
    }

    fn answer(item: &EvalItem) -> (usize, Vec<String>) {
        match &item.kind {
            ItemKind::SingleChoice {
                options: Options::Listed(options),
                answer,
            } => (*answer, options.clone()),
            other => panic!("not a listed single choice: {other:?}"),
        }
    }

    #[test]
    fn every_task_reads_its_own_fields() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        write(
            root,
            FewClueTask::Tnews,
            TNEWS_LABEL_FILE,
            concat!(
                r#"{"label": "100", "label_desc": "news_story", "label_zh": "故事"}"#,
                "\n",
                r#"{"label": "103", "label_desc": "news_sports", "label_zh": "体育"}"#,
                "\n"
            ),
        );
        write(
            root,
            FewClueTask::Tnews,
            "test_public.json",
            r#"{"id": 1, "sentence": "球队夺冠", "label": 103, "label_desc": "news_sports", "keywords": "足球,冠军"}"#,
        );
        write(
            root,
            FewClueTask::Iflytek,
            "test_public.json",
            concat!(
                r#"{"id": 0, "sentence": "一款记账应用", "label": 98, "label_des": "记账"}"#,
                "\n",
                r#"{"id": 1, "sentence": "一款打车应用", "label": 0, "label_des": "打车"}"#,
                "\n"
            ),
        );
        write(
            root,
            FewClueTask::Ocnli,
            "test_public.json",
            concat!(
                r#"{"sentence1": "他跑步。", "sentence2": "他在运动。", "label": "entailment", "genre": "lit", "id": 5}"#,
                "\n",
                r#"{"sentence1": "a", "sentence2": "b", "label": "-", "id": 6}"#,
                "\n"
            ),
        );
        write(
            root,
            FewClueTask::Cluewsc,
            "test_public.json",
            r#"{"target": {"span2_index": 5, "span1_index": 0, "span1_text": "小明", "span2_text": "他"}, "idx": 9, "label": "true", "text": "小明说他累了。"}"#,
        );
        write(
            root,
            FewClueTask::Csl,
            "test_public.json",
            r#"{"id": 3, "abst": "本文研究……", "keyword": ["图像", "检测"], "label": "1"}"#,
        );
        write(
            root,
            FewClueTask::Csldcp,
            CSLDCP_LABEL_FILE,
            "数学\n物理学\n\n",
        );
        write(
            root,
            FewClueTask::Csldcp,
            "test_public.json",
            concat!(
                r#"{"content": "一篇物理论文", "label": "物理学", "id": 4}"#,
                "\n",
                r#"{"content": "另一篇物理论文", "label": "物理学", "id": 4}"#,
                "\n"
            ),
        );
        write(
            root,
            FewClueTask::Bustm,
            "test_public.json",
            r#"{"id": 2, "sentence1": "怎么开发票", "sentence2": "如何开发票", "label": "1"}"#,
        );
        write(
            root,
            FewClueTask::Eprstmt,
            "test_public.json",
            r#"{"id": 8, "sentence": "质量很差", "label": "Negative"}"#,
        );
        write(
            root,
            FewClueTask::Chid,
            "test_public.json",
            r#"{"id": 0, "candidates": ["一帆风顺", "画蛇添足", "守株待兔"], "content": "他做事总是#idiom#。", "answer": 1}"#,
        );

        let load = |task| load_task(root, task, "test_public.json").expect("fixture loads");
        let tnews = load(FewClueTask::Tnews);
        assert_eq!(
            answer(&tnews[0]),
            (1, vec!["故事".to_string(), "体育".to_string()])
        );
        assert_eq!(tnews[0].fields["keywords"], "足球,冠军");
        assert_eq!(tnews[0].id, "tnews/test_public/1");
        let iflytek = load(FewClueTask::Iflytek);
        let (gold, labels) = answer(&iflytek[0]);
        assert_eq!((gold, labels.len()), (98, 119), "all 119 labels, by id");
        assert_eq!((labels[0].as_str(), labels[98].as_str()), ("打车", "记账"));
        assert_eq!(answer(&iflytek[1]).0, 0);
        let ocnli = load(FewClueTask::Ocnli);
        assert_eq!(ocnli.len(), 1, "the `-` record is dropped");
        assert_eq!(ocnli[0].id, "ocnli/test_public/5");
        assert_eq!(ocnli[0].suite, "fewclue");
        let cluewsc = load(FewClueTask::Cluewsc);
        assert_eq!(answer(&cluewsc[0]).0, 1);
        assert_eq!(cluewsc[0].fields["span2_text"], "他");
        assert_eq!(cluewsc[0].id, "cluewsc/test_public/9");
        let csl = load(FewClueTask::Csl);
        assert_eq!(csl[0].fields["keywords"], "图像，检测");
        assert_eq!(answer(&csl[0]).0, 1);
        let csldcp = load(FewClueTask::Csldcp);
        assert_eq!(
            answer(&csldcp[0]),
            (1, vec!["数学".to_string(), "物理学".to_string()])
        );
        assert_eq!(
            csldcp[1].id, "csldcp/test_public/4@line 2",
            "repeated ids stay unique"
        );
        let bustm = load(FewClueTask::Bustm);
        assert_eq!(bustm[0].fields["sentence2"], "如何开发票");
        assert_eq!(answer(&load(FewClueTask::Eprstmt)[0]).0, 0);
        let chid = load(FewClueTask::Chid);
        assert_eq!(answer(&chid[0]).0, 1);
        assert!(chid[0].question.contains("#idiom#"));
    }

    #[test]
    fn malformed_records_name_the_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        write(
            root,
            FewClueTask::Eprstmt,
            "dev_few_all.json",
            concat!(
                r#"{"id": 1, "sentence": "好", "label": "Positive"}"#,
                "\n",
                r#"{"id": 2, "sentence": "差", "label": "Neutral"}"#,
                "\n"
            ),
        );
        let error = load_task(root, FewClueTask::Eprstmt, "dev_few_all.json")
            .expect_err("unknown label")
            .to_string();
        assert!(
            error.contains(
                "eprstmt/dev_few_all.json:2: label `Neutral` is not one of Negative, Positive"
            ),
            "{error}"
        );

        write(
            root,
            FewClueTask::Chid,
            "dev_few_all.json",
            r##"{"id": 0, "candidates": ["甲", "乙"], "content": "#idiom#", "answer": 2}"##,
        );
        let error = load_task(root, FewClueTask::Chid, "dev_few_all.json")
            .expect_err("answer past candidates")
            .to_string();
        assert!(
            error.contains("chid/dev_few_all.json:1: `answer` 2 is past the 2 candidates"),
            "{error}"
        );

        write(
            root,
            FewClueTask::Tnews,
            "dev_few_all.json",
            r#"{"id": 0, "sentence": "s", "label": 100, "label_desc": "news_story"}"#,
        );
        let error = load_task(root, FewClueTask::Tnews, "dev_few_all.json")
            .expect_err("no label file")
            .to_string();
        assert!(error.contains("label_index2en2zh.json"), "{error}");

        write(
            root,
            FewClueTask::Iflytek,
            "dev_few_all.json",
            concat!(
                r#"{"id": 0, "sentence": "s", "label": 1, "label_des": "地图导航"}"#,
                "\n",
                r#"{"id": 1, "sentence": "s", "label": 1, "label_des": "乙"}"#,
                "\n"
            ),
        );
        let error = load_task(root, FewClueTask::Iflytek, "dev_few_all.json")
            .expect_err("a name that is not the id's")
            .to_string();
        assert!(
            error.contains(
                "dev_few_all.json:2: label 1 is `乙` here but `地图导航` in IFLYTEK's label list"
            ),
            "{error}"
        );
        assert_eq!("CSL".parse::<FewClueTask>(), Ok(FewClueTask::Csl));
        assert!("afqmc".parse::<FewClueTask>().is_err());
    }
}
