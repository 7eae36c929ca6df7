//! The CJK font carried by `report.html`: a subset of a CJK font holding only the
//! characters the page uses, embedded as a data URL, so Chinese text reads the same on a
//! machine without CJK fonts (where it would otherwise be empty boxes).
//!
//! The font is read at render time from the coordinator's machine, never shipped with
//! Jianzhen (a CJK font is 10-20 MB): `JIANZHEN_REPORT_FONT=PATH[#INDEX]` names one, or
//! the first of [`KNOWN_FONTS`] that exists is used — fonts whose licences (SIL Open
//! Font License, Apache-2.0) allow embedding a subset in a document. Without one the page
//! falls back to the reader's fonts and the coordinator logs how to get one; see
//! `docs/reports.md`.

use std::path::{Path, PathBuf};

use allsorts::binary::read::ReadScope;
use allsorts::font_data::FontData;
use allsorts::subset::{CmapTarget, SubsetProfile};
use allsorts::tables::FontTableProvider;
use allsorts::tables::cmap::Cmap;
use allsorts::tag;
use base64::Engine as _;

/// The environment variable naming the font to embed: `PATH` or `PATH#INDEX` (the face
/// of a `.ttc` collection); `none` embeds no font.
pub const FONT_ENV: &str = "JIANZHEN_REPORT_FONT";

/// The family name the page asks for first.
pub const FAMILY: &str = "Jianzhen CJK";

/// Fonts looked for when `JIANZHEN_REPORT_FONT` is unset, with the face to use: Noto
/// Sans CJK (SIL OFL 1.1; face 2 is Simplified Chinese) where Debian/Ubuntu
/// (`fonts-noto-cjk`), Arch and Fedora install it, then Droid Sans Fallback
/// (Apache-2.0; Debian's `fonts-droid-fallback`).
pub const KNOWN_FONTS: [(&str, usize); 5] = [
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", 2),
    (
        "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
        2,
    ),
    (
        "/usr/share/fonts/opentype/noto-cjk/NotoSansCJK-Regular.ttc",
        2,
    ),
    (
        "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
        0,
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum FontError {
    #[error(
        "cannot read the report font {path}: {source}; set {FONT_ENV} to a CJK font file (e.g. NotoSansCJK-Regular.ttc#2) or to `none`"
    )]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the report font {path} (face {index}) cannot be used: {problem}; set {FONT_ENV} to another CJK font (OpenType or TrueType) or to `none`"
    )]
    Unusable {
        path: String,
        index: usize,
        problem: String,
    },
}

/// A font file and the face in it to embed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FontSource {
    pub path: PathBuf,
    pub index: usize,
}

impl FontSource {
    /// Reads `PATH` or `PATH#INDEX`.
    pub fn parse(value: &str) -> FontSource {
        match value.rsplit_once('#') {
            Some((path, index)) if index.parse::<usize>().is_ok() => FontSource {
                path: PathBuf::from(path),
                index: index.parse().unwrap_or(0),
            },
            _ => FontSource {
                path: PathBuf::from(value),
                index: 0,
            },
        }
    }
}

/// Where the font to embed comes from: `JIANZHEN_REPORT_FONT` when set (`None` for
/// `none`), else the first known font that exists here.
pub fn find_font() -> Option<FontSource> {
    if let Ok(value) = std::env::var(FONT_ENV)
        && !value.is_empty()
    {
        if value.eq_ignore_ascii_case("none") {
            return None;
        }
        return Some(FontSource::parse(&value));
    }
    KNOWN_FONTS
        .iter()
        .find(|(path, _)| Path::new(path).is_file())
        .map(|(path, index)| FontSource {
            path: PathBuf::from(path),
            index: *index,
        })
}

/// A subset font ready to embed.
#[derive(Debug, Clone)]
pub struct EmbeddedFont {
    /// The subset as an OpenType file.
    pub data: Vec<u8>,
    /// Characters of the page the font covers.
    pub covered: usize,
}

impl EmbeddedFont {
    /// The `@font-face` rule carrying the font as a data URL.
    pub fn css(&self) -> String {
        format!(
            "@font-face {{ font-family: \"{FAMILY}\"; src: url(data:font/otf;base64,{}) format(\"opentype\"); font-display: block; }}",
            base64::engine::general_purpose::STANDARD.encode(&self.data)
        )
    }
}

/// The subset of `source` holding the glyphs of the characters of `text` that the font
/// has (others are left to the reader's fonts).
///
/// # Errors
/// The file cannot be read, is not a font, has no such face or no Unicode character
/// map, or cannot be subset.
pub fn subset_for_text(source: &FontSource, text: &str) -> Result<EmbeddedFont, FontError> {
    let bytes = std::fs::read(&source.path).map_err(|error| FontError::Read {
        path: source.path.display().to_string(),
        source: error,
    })?;
    let unusable = |problem: String| FontError::Unusable {
        path: source.path.display().to_string(),
        index: source.index,
        problem,
    };
    let font = ReadScope::new(&bytes)
        .read::<FontData<'_>>()
        .map_err(|error| unusable(format!("not a font file ({error})")))?;
    let provider = font
        .table_provider(source.index)
        .map_err(|error| unusable(format!("no face {} ({error})", source.index)))?;
    let cmap_data = provider
        .read_table_data(tag::CMAP)
        .map_err(|error| unusable(format!("no character map ({error})")))?;
    let cmap = ReadScope::new(&cmap_data)
        .read::<Cmap<'_>>()
        .map_err(|error| unusable(format!("unreadable character map ({error})")))?;
    let Some((_, subtable)) = allsorts::font::read_cmap_subtable(&cmap)
        .map_err(|error| unusable(format!("unreadable character map ({error})")))?
    else {
        return Err(unusable("no Unicode character map".to_string()));
    };
    let mut characters: Vec<char> = text.chars().filter(|c| !c.is_control()).collect();
    characters.sort_unstable();
    characters.dedup();
    // Glyph 0 (.notdef) must come first; glyphs are kept in the font's own order.
    let mut glyphs = vec![0u16];
    let mut covered = 0;
    for character in characters {
        if let Ok(Some(glyph)) = subtable.map_glyph(u32::from(character))
            && glyph != 0
        {
            glyphs.push(glyph);
            covered += 1;
        }
    }
    glyphs[1..].sort_unstable();
    glyphs.dedup();
    let data = allsorts::subset::subset(
        &provider,
        &glyphs,
        &SubsetProfile::Minimal,
        CmapTarget::Unicode,
    )
    .map_err(|error| unusable(format!("subsetting failed ({error})")))?;
    Ok(EmbeddedFont { data, covered })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn font_sources_name_a_face_after_a_hash() {
        assert_eq!(
            FontSource::parse("/f/NotoSansCJK-Regular.ttc#2"),
            FontSource {
                path: PathBuf::from("/f/NotoSansCJK-Regular.ttc"),
                index: 2
            }
        );
        assert_eq!(
            FontSource::parse("/f/a#b.ttf"),
            FontSource {
                path: PathBuf::from("/f/a#b.ttf"),
                index: 0
            }
        );
    }

    #[test]
    fn a_missing_font_file_is_named_with_what_to_do() {
        let error = subset_for_text(&FontSource::parse("/nowhere/font.ttc#2"), "鉴真")
            .expect_err("no such file");
        let message = error.to_string();
        assert!(message.contains("/nowhere/font.ttc"), "{message}");
        assert!(message.contains(FONT_ENV), "{message}");
    }

    #[test]
    fn a_file_that_is_not_a_font_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("font.ttf");
        std::fs::write(&path, b"not a font at all, just text").expect("write");
        let error = subset_for_text(
            &FontSource {
                path: path.clone(),
                index: 0,
            },
            "鉴真",
        )
        .expect_err("not a font");
        assert!(matches!(error, FontError::Unusable { .. }), "{error}");
    }

    /// With a CJK font on this machine (CI installs `fonts-noto-cjk`): the subset maps
    /// exactly the page's characters the font has, and is far smaller than the font.
    #[test]
    fn the_subset_holds_the_characters_of_the_text_and_no_others() {
        let Some(source) = KNOWN_FONTS
            .iter()
            .find(|(path, _)| Path::new(path).is_file())
            .map(|(path, index)| FontSource {
                path: PathBuf::from(path),
                index: *index,
            })
        else {
            // CI installs the font with the browser and requires both.
            assert!(
                std::env::var("JIANZHEN_REQUIRE_BROWSER").ok().as_deref() != Some("1"),
                "no CJK font found ({:?}); the browser tests need one: apt-get install fonts-noto-cjk",
                KNOWN_FONTS
            );
            jianzhen_skip(
                "font::tests::the_subset_holds_the_characters_of_the_text_and_no_others",
                "no CJK font installed (Debian: apt-get install fonts-noto-cjk)",
            );
            return;
        };
        let text = "鉴真 Jianzhen 报告：法学 95%";
        let font = subset_for_text(&source, text).expect("subset");
        let full = std::fs::metadata(&source.path).expect("font size").len();
        assert!(
            (font.data.len() as u64) < full / 20,
            "{} bytes from {full}",
            font.data.len()
        );
        let subset = ReadScope::new(&font.data)
            .read::<FontData<'_>>()
            .expect("the subset is a font");
        let provider = subset.table_provider(0).expect("one face");
        for table in [
            tag::CMAP,
            tag::HEAD,
            tag::HHEA,
            tag::HMTX,
            tag::MAXP,
            tag::NAME,
            tag::OS_2,
            tag::POST,
        ] {
            assert!(provider.has_table(table), "table {table:08x} is kept");
        }
        // The licence asks that the copyright and licence notices go with the font: the
        // subset keeps the original `name` table, which holds both.
        let original = std::fs::read(&source.path).expect("read the font");
        let original = ReadScope::new(&original)
            .read::<FontData<'_>>()
            .expect("the font");
        let original = original.table_provider(source.index).expect("the face");
        assert_eq!(
            provider.read_table_data(tag::NAME).expect("name").as_ref(),
            original.read_table_data(tag::NAME).expect("name").as_ref(),
            "the name table (copyright, licence) is kept as it is"
        );
        let cmap_data = provider.read_table_data(tag::CMAP).expect("cmap");
        let cmap = ReadScope::new(&cmap_data).read::<Cmap<'_>>().expect("cmap");
        let (_, subtable) = allsorts::font::read_cmap_subtable(&cmap)
            .expect("cmap")
            .expect("a Unicode cmap");
        for character in text.chars() {
            let glyph = subtable.map_glyph(u32::from(character)).expect("lookup");
            assert!(
                glyph.is_some_and(|glyph| glyph != 0),
                "{character} is mapped"
            );
        }
        for absent in ['国', '字', 'Q'] {
            let glyph = subtable.map_glyph(u32::from(absent)).expect("lookup");
            assert!(
                glyph.is_none_or(|glyph| glyph == 0),
                "{absent} is not in the subset"
            );
        }
        assert_eq!(font.covered, {
            let mut distinct: Vec<char> = text.chars().collect();
            distinct.sort_unstable();
            distinct.dedup();
            distinct.len()
        });
    }

    /// A skipped test says so on the terminal, past the test harness's capture.
    fn jianzhen_skip(test: &str, reason: &str) {
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
    }
}
