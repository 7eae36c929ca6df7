//! Small C-Eval and CMMLU files written for the unit tests, in the published layouts
//! (C-Eval's CRLF with quoted multi-line cells, CMMLU's unnamed index column), shared by
//! the hand-written loaders' tests and the spec loader's, which must read the same items.

use std::path::Path;

/// Writes `contents` at `relative` below `dir`, creating folders.
pub(crate) fn write(dir: &Path, relative: &str, contents: &str) {
    let path = dir.join(relative);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create fixture dir");
    }
    std::fs::write(path, contents).expect("write fixture");
}

pub(crate) const CEVAL_DEV: &str = "id,question,A,B,C,D,answer,explanation\r\n\
    0,1+1等于____。,1,2,3,4,B,\"1. 一加一。\r\n2. 等于二。\"\r\n\
    1,天空通常是什么颜色？,红,绿,蓝,黑,C,晴天时是蓝色\r\n";

pub(crate) const CEVAL_VAL: &str = "id,question,A,B,C,D,answer\r\n\
    0,\"下列哪个是质数？\r\n（单选）\",4,6,7,9,C\r\n\
    1,水的化学式是____。,H2O,CO2,O2,NaCl,A\r\n";

pub(crate) const CEVAL_TEST: &str = "id,question,A,B,C,D\r\n0,虚构问题一,甲,乙,丙,丁\r\n";

pub(crate) const CMMLU_TEST: &str = ",Question,A,B,C,D,Answer\n\
    0,虚构的农学问题？,选项一,选项二,选项三,选项四,D\n\
    1,\"另一个问题，\n跨两行\",甲,乙,丙,丁,A\n\
    2,第三个问题,一, 二 ,三,四,B\n";

pub(crate) const CMMLU_DEV: &str =
    ",Question,A,B,C,D,Answer\n0,示例问题,a,b,c,d,A\n1,示例二,e,f,g,h,C\n";

/// A C-Eval folder: every subject of `subjects` with dev, val and test files, every one
/// of `val_only` with a val file alone (no dev file: few-shot cannot be served for it).
pub(crate) fn ceval_folder(subjects: &[&str], val_only: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for subject in subjects {
        write(dir.path(), &format!("dev/{subject}_dev.csv"), CEVAL_DEV);
        write(dir.path(), &format!("val/{subject}_val.csv"), CEVAL_VAL);
        write(dir.path(), &format!("test/{subject}_test.csv"), CEVAL_TEST);
    }
    for subject in val_only {
        write(dir.path(), &format!("val/{subject}_val.csv"), CEVAL_VAL);
    }
    dir
}
