//! The paper's per-frame classes. With truth `T` and prediction `P` (threshold 0.5):
//! exact iff `P = T`; *added* iff `P \ T` is not empty; *omitted* iff `T \ P` is not empty.
//! A frame can be both added and omitted.

use crate::pitchset::PitchSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameClass {
    pub exact: bool,
    pub added: bool,
    pub omitted: bool,
}

#[inline]
pub fn classify(truth: PitchSet, predicted: PitchSet) -> FrameClass {
    FrameClass {
        exact: truth == predicted,
        added: !predicted.minus(truth).is_empty(),
        omitted: !truth.minus(predicted).is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(p: &[u8]) -> PitchSet {
        p.iter().copied().collect()
    }

    #[test]
    fn classes() {
        let c = |t: &[u8], p: &[u8]| classify(set(t), set(p));
        assert_eq!(
            c(&[60, 64], &[60, 64]),
            FrameClass {
                exact: true,
                added: false,
                omitted: false
            }
        );
        assert_eq!(
            c(&[60], &[60, 72]),
            FrameClass {
                exact: false,
                added: true,
                omitted: false
            }
        );
        assert_eq!(
            c(&[60, 64], &[60]),
            FrameClass {
                exact: false,
                added: false,
                omitted: true
            }
        );
        assert_eq!(
            c(&[60], &[61]),
            FrameClass {
                exact: false,
                added: true,
                omitted: true
            }
        );
        assert_eq!(
            c(&[], &[]),
            FrameClass {
                exact: true,
                added: false,
                omitted: false
            }
        );
    }
}
