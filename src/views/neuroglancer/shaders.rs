//! How each image layer is drawn: a shader (and its controls) that fits the array's
//! output. `intensities` (float32 in [0, 1]) get the default grey shader with the range
//! fixed to [0, 1]; channels with names (binarize, missing_annotations_mask, concat)
//! get one colour per channel, named after it, summed; three unnamed uint8 channels are
//! RGB; `ones`/`constant` masks are a translucent overlay of one colour.

use std::fmt::Write;

use serde_json::{Value, json};

use crate::array::Metadata;
use crate::dtype::DType;
use crate::levels::Levels;

/// Colours given to named channels, in order (then repeated).
pub const PALETTE: [&str; 8] = [
    "#ff4040", "#40c040", "#4080ff", "#ffc000", "#ff40ff", "#00d0d0", "#ff8000", "#a060ff",
];

/// Colour of a `ones`/`constant` overlay.
pub const OVERLAY_COLOR: &str = "#ffd000";

/// Opacity of a `ones`/`constant` overlay.
pub const OVERLAY_OPACITY: f64 = 0.3;

/// What an image layer needs beyond its source.
#[derive(Debug, Clone, PartialEq)]
pub struct Shading {
    /// The layer's `shader`, `None` for neuroglancer's default.
    pub shader: Option<String>,
    /// `shaderControls`, `Null` for none.
    pub controls: Value,
    /// The layer's `opacity`, `None` for the default.
    pub opacity: Option<f64>,
}

/// GLSL identifiers for channel names: non-alphanumerics become `_`, a leading digit
/// gets a `c_` prefix, repeats get their index.
#[must_use]
pub fn control_names(names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let mut id: String = n
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        if id.is_empty() || id.starts_with(|c: char| c.is_ascii_digit()) || id.starts_with("gl_") {
            id = format!("c_{id}");
        }
        if out.contains(&id) {
            id = format!("{id}_{i}");
        }
        out.push(id);
    }
    out
}

/// One colour per named channel, summed; alpha is the strongest channel.
fn channel_colors(names: &[String]) -> Shading {
    let ids = control_names(names);
    let mut glsl = String::new();
    for (i, id) in ids.iter().enumerate() {
        let _ = writeln!(
            glsl,
            "#uicontrol vec3 {id} color(default=\"{}\")",
            PALETTE[i % PALETTE.len()]
        );
    }
    glsl.push_str("void main() {\n  vec3 rgb = vec3(0.0);\n  float a = 0.0;\n");
    for (i, id) in ids.iter().enumerate() {
        let _ = writeln!(
            glsl,
            "  float v{i} = clamp(float(toRaw(getDataValue({i}))), 0.0, 1.0);\n  rgb += v{i} * {id};\n  a = max(a, v{i});"
        );
    }
    glsl.push_str("  emitRGBA(vec4(min(rgb, vec3(1.0)), a));\n}\n");
    Shading {
        shader: Some(glsl),
        controls: Value::Null,
        opacity: None,
    }
}

/// The shading of an image layer over `levels` (metadata `m`).
#[must_use]
pub fn shading(m: &Metadata, levels: &Levels) -> Shading {
    let default = Shading {
        shader: None,
        controls: Value::Null,
        opacity: None,
    };
    let names: Option<Vec<String>> = m
        .attrs
        .get("channel_names")
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    match (m.type_name, names, levels.num_channels) {
        ("ones" | "constant", ..) => Shading {
            shader: Some(format!(
                "#uicontrol vec3 color color(default=\"{OVERLAY_COLOR}\")\n\
                 void main() {{\n  float on = float(toRaw(getDataValue())) != 0.0 ? 1.0 : 0.0;\n  emitRGBA(vec4(color, on));\n}}\n"
            )),
            opacity: Some(OVERLAY_OPACITY),
            ..default
        },
        (_, Some(names), Some(c)) if names.len() == c => channel_colors(&names),
        (_, None, Some(3)) if levels.served == DType::U8 => Shading {
            shader: Some(
                "void main() {\n  emitRGB(vec3(toNormalized(getDataValue(0)), toNormalized(getDataValue(1)), toNormalized(getDataValue(2))));\n}\n"
                    .into(),
            ),
            ..default
        },
        ("intensities", ..) => Shading {
            controls: json!({"normalized": {"range": [0, 1]}}),
            ..default
        },
        _ => default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_names_are_identifiers() {
        let names = [
            "mito".into(),
            "er membrane".into(),
            "3d".into(),
            "mito".into(),
        ];
        assert_eq!(
            control_names(&names),
            ["mito", "er_membrane", "c_3d", "mito_3"]
        );
    }

    #[test]
    fn channel_shader_names_every_channel() {
        let s = channel_colors(&["a".into(), "b".into()]);
        let glsl = s.shader.unwrap();
        assert!(
            glsl.contains("#uicontrol vec3 a color(default=\"#ff4040\")"),
            "{glsl}"
        );
        assert!(
            glsl.contains("getDataValue(1)") && glsl.contains("* b;"),
            "{glsl}"
        );
    }
}
