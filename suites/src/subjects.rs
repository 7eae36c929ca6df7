//! Subject metadata: keys as the suites name their files, Chinese names as the prompt
//! templates use them, and the published category of each subject.
//!
//! Sources (metadata only, no questions):
//! - C-Eval: `subject_mapping.json` of hkust-nlp/ceval (commit cba65ae9), identical to
//!   `ceval_subject_mapping` in OpenCompass's
//!   `opencompass/configs/datasets/ceval/ceval_gen_5f30c7.py`: key → English name,
//!   Chinese name, category (STEM / Social Science / Humanities / Other).
//! - CMMLU: Chinese names from `cmmlu_subject_mapping` in OpenCompass's
//!   `configs/datasets/cmmlu/cmmlu_gen_c13365.py` (commit b2e2a334), which match
//!   `name_en2zh` in haonan-li/CMMLU `src/categories.py` (commit 7aa0f6f4). Categories come
//!   from that `categories.py`: each subject lists subcategories, each subcategory belongs
//!   to one category. A subject whose subcategories include `china specific` counts in two
//!   categories in CMMLU's own reports (e.g. `ancient_chinese`: linguistics → Social
//!   Science, and China specific). [`SubjectInfo::category`] is the category of the first
//!   subcategory; [`SubjectInfo::china_specific`] records the second membership, and
//!   [`SubjectInfo::categories`] lists both.
//! - CMMLU publishes no English names; `english_name` is the key in title case.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::item::SuiteName;

/// A category used to aggregate per-subject accuracy. C-Eval uses the first four; CMMLU
/// adds China specific.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Category {
    #[serde(rename = "STEM")]
    Stem,
    #[serde(rename = "Social Science")]
    SocialScience,
    #[serde(rename = "Humanities")]
    Humanities,
    #[serde(rename = "Other")]
    Other,
    #[serde(rename = "China specific")]
    ChinaSpecific,
}

impl Category {
    pub const ALL: [Category; 5] = [
        Category::Stem,
        Category::SocialScience,
        Category::Humanities,
        Category::Other,
        Category::ChinaSpecific,
    ];

    /// The display name the suites' own reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Stem => "STEM",
            Category::SocialScience => "Social Science",
            Category::Humanities => "Humanities",
            Category::Other => "Other",
            Category::ChinaSpecific => "China specific",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What Jianzhen knows about one subject of one suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SubjectInfo {
    /// The key the suite's file names use, e.g. `computer_network`.
    pub key: &'static str,
    /// Inserted into the prompt templates, so it must match OpenCompass exactly.
    pub chinese_name: &'static str,
    pub english_name: &'static str,
    /// The subject's primary category.
    pub category: Category,
    /// CMMLU only: the subject also counts in the China specific category.
    pub china_specific: bool,
}

impl SubjectInfo {
    /// Every category this subject is counted in: the primary one, then China specific
    /// when it applies.
    pub fn categories(&self) -> Vec<Category> {
        let mut categories = vec![self.category];
        if self.china_specific && self.category != Category::ChinaSpecific {
            categories.push(Category::ChinaSpecific);
        }
        categories
    }
}

/// Metadata for `key` in `suite`, or `None` for a subject the published mapping lacks
/// (a user's own extra file, for instance).
pub fn subject_info(suite: SuiteName, key: &str) -> Option<&'static SubjectInfo> {
    subjects(suite).iter().find(|info| info.key == key)
}

/// All subjects of `suite`, in the order of the published mapping.
pub fn subjects(suite: SuiteName) -> &'static [SubjectInfo] {
    match suite {
        SuiteName::Ceval => CEVAL_SUBJECTS,
        SuiteName::Cmmlu => CMMLU_SUBJECTS,
    }
}

/// C-Eval, in the order of `subject_mapping.json`.
#[rustfmt::skip]
static CEVAL_SUBJECTS: &[SubjectInfo] = &[
    SubjectInfo { key: "computer_network", chinese_name: "计算机网络", english_name: "Computer Network", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "operating_system", chinese_name: "操作系统", english_name: "Operating System", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "computer_architecture", chinese_name: "计算机组成", english_name: "Computer Architecture", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "college_programming", chinese_name: "大学编程", english_name: "College Programming", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "college_physics", chinese_name: "大学物理", english_name: "College Physics", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "college_chemistry", chinese_name: "大学化学", english_name: "College Chemistry", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "advanced_mathematics", chinese_name: "高等数学", english_name: "Advanced Mathematics", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "probability_and_statistics", chinese_name: "概率统计", english_name: "Probability and Statistics", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "discrete_mathematics", chinese_name: "离散数学", english_name: "Discrete Mathematics", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "electrical_engineer", chinese_name: "注册电气工程师", english_name: "Electrical Engineer", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "metrology_engineer", chinese_name: "注册计量师", english_name: "Metrology Engineer", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "high_school_mathematics", chinese_name: "高中数学", english_name: "High School Mathematics", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "high_school_physics", chinese_name: "高中物理", english_name: "High School Physics", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "high_school_chemistry", chinese_name: "高中化学", english_name: "High School Chemistry", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "high_school_biology", chinese_name: "高中生物", english_name: "High School Biology", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "middle_school_mathematics", chinese_name: "初中数学", english_name: "Middle School Mathematics", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "middle_school_biology", chinese_name: "初中生物", english_name: "Middle School Biology", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "middle_school_physics", chinese_name: "初中物理", english_name: "Middle School Physics", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "middle_school_chemistry", chinese_name: "初中化学", english_name: "Middle School Chemistry", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "veterinary_medicine", chinese_name: "兽医学", english_name: "Veterinary Medicine", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "college_economics", chinese_name: "大学经济学", english_name: "College Economics", category: Category::SocialScience, china_specific: false },
    SubjectInfo { key: "business_administration", chinese_name: "工商管理", english_name: "Business Administration", category: Category::SocialScience, china_specific: false },
    SubjectInfo { key: "marxism", chinese_name: "马克思主义基本原理", english_name: "Marxism", category: Category::SocialScience, china_specific: false },
    SubjectInfo { key: "mao_zedong_thought", chinese_name: "毛泽东思想和中国特色社会主义理论体系概论", english_name: "Mao Zedong Thought", category: Category::SocialScience, china_specific: false },
    SubjectInfo { key: "education_science", chinese_name: "教育学", english_name: "Education Science", category: Category::SocialScience, china_specific: false },
    SubjectInfo { key: "teacher_qualification", chinese_name: "教师资格", english_name: "Teacher Qualification", category: Category::SocialScience, china_specific: false },
    SubjectInfo { key: "high_school_politics", chinese_name: "高中政治", english_name: "High School Politics", category: Category::SocialScience, china_specific: false },
    SubjectInfo { key: "high_school_geography", chinese_name: "高中地理", english_name: "High School Geography", category: Category::SocialScience, china_specific: false },
    SubjectInfo { key: "middle_school_politics", chinese_name: "初中政治", english_name: "Middle School Politics", category: Category::SocialScience, china_specific: false },
    SubjectInfo { key: "middle_school_geography", chinese_name: "初中地理", english_name: "Middle School Geography", category: Category::SocialScience, china_specific: false },
    SubjectInfo { key: "modern_chinese_history", chinese_name: "近代史纲要", english_name: "Modern Chinese History", category: Category::Humanities, china_specific: false },
    SubjectInfo { key: "ideological_and_moral_cultivation", chinese_name: "思想道德修养与法律基础", english_name: "Ideological and Moral Cultivation", category: Category::Humanities, china_specific: false },
    SubjectInfo { key: "logic", chinese_name: "逻辑学", english_name: "Logic", category: Category::Humanities, china_specific: false },
    SubjectInfo { key: "law", chinese_name: "法学", english_name: "Law", category: Category::Humanities, china_specific: false },
    SubjectInfo { key: "chinese_language_and_literature", chinese_name: "中国语言文学", english_name: "Chinese Language and Literature", category: Category::Humanities, china_specific: false },
    SubjectInfo { key: "art_studies", chinese_name: "艺术学", english_name: "Art Studies", category: Category::Humanities, china_specific: false },
    SubjectInfo { key: "professional_tour_guide", chinese_name: "导游资格", english_name: "Professional Tour Guide", category: Category::Humanities, china_specific: false },
    SubjectInfo { key: "legal_professional", chinese_name: "法律职业资格", english_name: "Legal Professional", category: Category::Humanities, china_specific: false },
    SubjectInfo { key: "high_school_chinese", chinese_name: "高中语文", english_name: "High School Chinese", category: Category::Humanities, china_specific: false },
    SubjectInfo { key: "high_school_history", chinese_name: "高中历史", english_name: "High School History", category: Category::Humanities, china_specific: false },
    SubjectInfo { key: "middle_school_history", chinese_name: "初中历史", english_name: "Middle School History", category: Category::Humanities, china_specific: false },
    SubjectInfo { key: "civil_servant", chinese_name: "公务员", english_name: "Civil Servant", category: Category::Other, china_specific: false },
    SubjectInfo { key: "sports_science", chinese_name: "体育学", english_name: "Sports Science", category: Category::Other, china_specific: false },
    SubjectInfo { key: "plant_protection", chinese_name: "植物保护", english_name: "Plant Protection", category: Category::Other, china_specific: false },
    SubjectInfo { key: "basic_medicine", chinese_name: "基础医学", english_name: "Basic Medicine", category: Category::Other, china_specific: false },
    SubjectInfo { key: "clinical_medicine", chinese_name: "临床医学", english_name: "Clinical Medicine", category: Category::Other, china_specific: false },
    SubjectInfo { key: "urban_and_rural_planner", chinese_name: "注册城乡规划师", english_name: "Urban and Rural Planner", category: Category::Other, china_specific: false },
    SubjectInfo { key: "accountant", chinese_name: "注册会计师", english_name: "Accountant", category: Category::Other, china_specific: false },
    SubjectInfo { key: "fire_engineer", chinese_name: "注册消防工程师", english_name: "Fire Engineer", category: Category::Other, china_specific: false },
    SubjectInfo { key: "environmental_impact_assessment_engineer", chinese_name: "环境影响评价工程师", english_name: "Environmental Impact Assessment Engineer", category: Category::Other, china_specific: false },
    SubjectInfo { key: "tax_accountant", chinese_name: "税务师", english_name: "Tax Accountant", category: Category::Other, china_specific: false },
    SubjectInfo { key: "physician", chinese_name: "医师资格", english_name: "Physician", category: Category::Other, china_specific: false },
];

/// CMMLU, in the order of OpenCompass's `cmmlu_subject_mapping`.
#[rustfmt::skip]
static CMMLU_SUBJECTS: &[SubjectInfo] = &[
    SubjectInfo { key: "agronomy", chinese_name: "农学", english_name: "Agronomy", category: Category::Other, china_specific: false },
    SubjectInfo { key: "anatomy", chinese_name: "解剖学", english_name: "Anatomy", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "ancient_chinese", chinese_name: "古汉语", english_name: "Ancient Chinese", category: Category::SocialScience, china_specific: true },
    SubjectInfo { key: "arts", chinese_name: "艺术学", english_name: "Arts", category: Category::Humanities, china_specific: false },
    SubjectInfo { key: "astronomy", chinese_name: "天文学", english_name: "Astronomy", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "business_ethics", chinese_name: "商业伦理", english_name: "Business Ethics", category: Category::SocialScience, china_specific: false },
    SubjectInfo { key: "chinese_civil_service_exam", chinese_name: "中国公务员考试", english_name: "Chinese Civil Service Exam", category: Category::SocialScience, china_specific: true },
    SubjectInfo { key: "chinese_driving_rule", chinese_name: "中国驾驶规则", english_name: "Chinese Driving Rule", category: Category::Other, china_specific: true },
    SubjectInfo { key: "chinese_food_culture", chinese_name: "中国饮食文化", english_name: "Chinese Food Culture", category: Category::SocialScience, china_specific: true },
    SubjectInfo { key: "chinese_foreign_policy", chinese_name: "中国外交政策", english_name: "Chinese Foreign Policy", category: Category::SocialScience, china_specific: true },
    SubjectInfo { key: "chinese_history", chinese_name: "中国历史", english_name: "Chinese History", category: Category::Humanities, china_specific: true },
    SubjectInfo { key: "chinese_literature", chinese_name: "中国文学", english_name: "Chinese Literature", category: Category::Humanities, china_specific: true },
    SubjectInfo { key: "chinese_teacher_qualification", chinese_name: "中国教师资格", english_name: "Chinese Teacher Qualification", category: Category::SocialScience, china_specific: true },
    SubjectInfo { key: "clinical_knowledge", chinese_name: "临床知识", english_name: "Clinical Knowledge", category: Category::Other, china_specific: false },
    SubjectInfo { key: "college_actuarial_science", chinese_name: "大学精算学", english_name: "College Actuarial Science", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "college_education", chinese_name: "大学教育学", english_name: "College Education", category: Category::SocialScience, china_specific: false },
    SubjectInfo { key: "college_engineering_hydrology", chinese_name: "大学工程水文学", english_name: "College Engineering Hydrology", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "college_law", chinese_name: "大学法律", english_name: "College Law", category: Category::Humanities, china_specific: false },
    SubjectInfo { key: "college_mathematics", chinese_name: "大学数学", english_name: "College Mathematics", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "college_medical_statistics", chinese_name: "大学医学统计", english_name: "College Medical Statistics", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "college_medicine", chinese_name: "大学医学", english_name: "College Medicine", category: Category::Other, china_specific: false },
    SubjectInfo { key: "computer_science", chinese_name: "计算机科学", english_name: "Computer Science", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "computer_security", chinese_name: "计算机安全", english_name: "Computer Security", category: Category::Other, china_specific: false },
    SubjectInfo { key: "conceptual_physics", chinese_name: "概念物理学", english_name: "Conceptual Physics", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "construction_project_management", chinese_name: "建设工程管理", english_name: "Construction Project Management", category: Category::Other, china_specific: true },
    SubjectInfo { key: "economics", chinese_name: "经济学", english_name: "Economics", category: Category::SocialScience, china_specific: false },
    SubjectInfo { key: "education", chinese_name: "教育学", english_name: "Education", category: Category::SocialScience, china_specific: false },
    SubjectInfo { key: "electrical_engineering", chinese_name: "电气工程", english_name: "Electrical Engineering", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "elementary_chinese", chinese_name: "小学语文", english_name: "Elementary Chinese", category: Category::SocialScience, china_specific: true },
    SubjectInfo { key: "elementary_commonsense", chinese_name: "小学常识", english_name: "Elementary Commonsense", category: Category::Other, china_specific: true },
    SubjectInfo { key: "elementary_information_and_technology", chinese_name: "小学信息技术", english_name: "Elementary Information and Technology", category: Category::Other, china_specific: false },
    SubjectInfo { key: "elementary_mathematics", chinese_name: "初等数学", english_name: "Elementary Mathematics", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "ethnology", chinese_name: "民族学", english_name: "Ethnology", category: Category::SocialScience, china_specific: true },
    SubjectInfo { key: "food_science", chinese_name: "食品科学", english_name: "Food Science", category: Category::Other, china_specific: false },
    SubjectInfo { key: "genetics", chinese_name: "遗传学", english_name: "Genetics", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "global_facts", chinese_name: "全球事实", english_name: "Global Facts", category: Category::Humanities, china_specific: false },
    SubjectInfo { key: "high_school_biology", chinese_name: "高中生物", english_name: "High School Biology", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "high_school_chemistry", chinese_name: "高中化学", english_name: "High School Chemistry", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "high_school_geography", chinese_name: "高中地理", english_name: "High School Geography", category: Category::SocialScience, china_specific: false },
    SubjectInfo { key: "high_school_mathematics", chinese_name: "高中数学", english_name: "High School Mathematics", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "high_school_physics", chinese_name: "高中物理学", english_name: "High School Physics", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "high_school_politics", chinese_name: "高中政治", english_name: "High School Politics", category: Category::SocialScience, china_specific: true },
    SubjectInfo { key: "human_sexuality", chinese_name: "人类性行为", english_name: "Human Sexuality", category: Category::Other, china_specific: false },
    SubjectInfo { key: "international_law", chinese_name: "国际法学", english_name: "International Law", category: Category::Humanities, china_specific: false },
    SubjectInfo { key: "journalism", chinese_name: "新闻学", english_name: "Journalism", category: Category::SocialScience, china_specific: false },
    SubjectInfo { key: "jurisprudence", chinese_name: "法理学", english_name: "Jurisprudence", category: Category::Humanities, china_specific: false },
    SubjectInfo { key: "legal_and_moral_basis", chinese_name: "法律与道德基础", english_name: "Legal and Moral Basis", category: Category::Other, china_specific: false },
    SubjectInfo { key: "logical", chinese_name: "逻辑学", english_name: "Logical", category: Category::Humanities, china_specific: false },
    SubjectInfo { key: "machine_learning", chinese_name: "机器学习", english_name: "Machine Learning", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "management", chinese_name: "管理学", english_name: "Management", category: Category::SocialScience, china_specific: false },
    SubjectInfo { key: "marketing", chinese_name: "市场营销", english_name: "Marketing", category: Category::SocialScience, china_specific: false },
    SubjectInfo { key: "marxist_theory", chinese_name: "马克思主义理论", english_name: "Marxist Theory", category: Category::Humanities, china_specific: false },
    SubjectInfo { key: "modern_chinese", chinese_name: "现代汉语", english_name: "Modern Chinese", category: Category::SocialScience, china_specific: true },
    SubjectInfo { key: "nutrition", chinese_name: "营养学", english_name: "Nutrition", category: Category::Other, china_specific: false },
    SubjectInfo { key: "philosophy", chinese_name: "哲学", english_name: "Philosophy", category: Category::Humanities, china_specific: false },
    SubjectInfo { key: "professional_accounting", chinese_name: "专业会计", english_name: "Professional Accounting", category: Category::SocialScience, china_specific: false },
    SubjectInfo { key: "professional_law", chinese_name: "专业法学", english_name: "Professional Law", category: Category::Humanities, china_specific: false },
    SubjectInfo { key: "professional_medicine", chinese_name: "专业医学", english_name: "Professional Medicine", category: Category::Other, china_specific: false },
    SubjectInfo { key: "professional_psychology", chinese_name: "专业心理学", english_name: "Professional Psychology", category: Category::SocialScience, china_specific: false },
    SubjectInfo { key: "public_relations", chinese_name: "公共关系", english_name: "Public Relations", category: Category::SocialScience, china_specific: false },
    SubjectInfo { key: "security_study", chinese_name: "安全研究", english_name: "Security Study", category: Category::SocialScience, china_specific: false },
    SubjectInfo { key: "sociology", chinese_name: "社会学", english_name: "Sociology", category: Category::SocialScience, china_specific: false },
    SubjectInfo { key: "sports_science", chinese_name: "体育学", english_name: "Sports Science", category: Category::Other, china_specific: false },
    SubjectInfo { key: "traditional_chinese_medicine", chinese_name: "中医中药", english_name: "Traditional Chinese Medicine", category: Category::Other, china_specific: true },
    SubjectInfo { key: "virology", chinese_name: "病毒学", english_name: "Virology", category: Category::Stem, china_specific: false },
    SubjectInfo { key: "world_history", chinese_name: "世界历史", english_name: "World History", category: Category::Humanities, china_specific: false },
    SubjectInfo { key: "world_religions", chinese_name: "世界宗教", english_name: "World Religions", category: Category::Humanities, china_specific: false },
];

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn published_subject_counts() {
        assert_eq!(subjects(SuiteName::Ceval).len(), 52);
        assert_eq!(subjects(SuiteName::Cmmlu).len(), 67);
        for suite in SuiteName::ALL {
            let keys: HashSet<&str> = subjects(suite).iter().map(|info| info.key).collect();
            assert_eq!(
                keys.len(),
                subjects(suite).len(),
                "duplicate key in {suite}"
            );
        }
    }

    #[test]
    fn lookups_match_the_published_mappings() {
        let network = subject_info(SuiteName::Ceval, "computer_network").expect("known");
        assert_eq!(network.chinese_name, "计算机网络");
        assert_eq!(network.category, Category::Stem);
        let mao = subject_info(SuiteName::Ceval, "mao_zedong_thought").expect("known");
        assert_eq!(mao.chinese_name, "毛泽东思想和中国特色社会主义理论体系概论");
        assert_eq!(mao.category, Category::SocialScience);

        let ancient = subject_info(SuiteName::Cmmlu, "ancient_chinese").expect("known");
        assert_eq!(ancient.chinese_name, "古汉语");
        assert_eq!(
            ancient.categories(),
            vec![Category::SocialScience, Category::ChinaSpecific]
        );
        let physics = subject_info(SuiteName::Cmmlu, "high_school_physics").expect("known");
        assert_eq!(physics.chinese_name, "高中物理学");
        assert_eq!(physics.categories(), vec![Category::Stem]);
        assert!(subject_info(SuiteName::Cmmlu, "computer_network").is_none());
    }

    #[test]
    fn category_counts_match_the_papers() {
        let count = |suite, category| {
            subjects(suite)
                .iter()
                .filter(|info| info.categories().contains(&category))
                .count()
        };
        // C-Eval: 20 STEM, 10 Social Science, 11 Humanities, 11 Other.
        assert_eq!(count(SuiteName::Ceval, Category::Stem), 20);
        assert_eq!(count(SuiteName::Ceval, Category::SocialScience), 10);
        assert_eq!(count(SuiteName::Ceval, Category::Humanities), 11);
        assert_eq!(count(SuiteName::Ceval, Category::Other), 11);
        // CMMLU: 17 STEM, 22 Social Science, 13 Humanities, 15 Other by primary category,
        // and 15 subjects that also count as China specific.
        assert_eq!(count(SuiteName::Cmmlu, Category::Stem), 17);
        assert_eq!(count(SuiteName::Cmmlu, Category::SocialScience), 22);
        assert_eq!(count(SuiteName::Cmmlu, Category::Humanities), 13);
        assert_eq!(count(SuiteName::Cmmlu, Category::Other), 15);
        assert_eq!(count(SuiteName::Cmmlu, Category::ChinaSpecific), 15);
    }

    #[test]
    fn categories_serialize_as_display_names() {
        for category in Category::ALL {
            let json = serde_json::to_string(&category).expect("serialize");
            assert_eq!(json, format!("\"{}\"", category.as_str()));
            let back: Category = serde_json::from_str(&json).expect("deserialize");
            assert_eq!(back, category);
        }
    }
}
