//! What every back-end checks around a call of its network: that the call fits the capacity
//! the network was built for ([`check_capacity`]), and that a result fits the caller's buffer
//! ([`check_output`], [`copy_out`]).

use crate::error::{Error, Result};

/// Refuses a call of `images` images to a network built for calls of up to `capacity`.
pub fn check_capacity(images: usize, capacity: usize) -> Result<()> {
    if images > capacity {
        return Err(Error::Runtime(format!(
            "a call of {images} images exceeds the network's capacity of {capacity}"
        )));
    }
    Ok(())
}

/// Refuses a result of `values` values for a caller's buffer of `buffer`.
pub fn check_output(values: usize, buffer: usize) -> Result<()> {
    if values != buffer {
        return Err(Error::Runtime(format!(
            "an output of {values} values does not fit a buffer of {buffer}"
        )));
    }
    Ok(())
}

/// Copies the result `values` into the caller's buffer `out`, refusing a length mismatch.
pub fn copy_out(values: &[f32], out: &mut [f32]) -> Result<()> {
    check_output(values.len(), out.len())?;
    out.copy_from_slice(values);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_call_over_capacity_and_takes_one_at_it() {
        assert!(check_capacity(8, 8).is_ok());
        let error = check_capacity(9, 8).unwrap_err().to_string();
        assert!(
            error.contains("a call of 9 images exceeds the network's capacity of 8"),
            "{error}"
        );
    }

    #[test]
    fn copies_a_result_of_the_buffer_s_length_and_refuses_another() {
        let mut out = [0.0f32; 3];
        copy_out(&[1.0, 2.0, 3.0], &mut out).unwrap();
        assert_eq!(out, [1.0, 2.0, 3.0]);
        let error = copy_out(&[1.0, 2.0], &mut out).unwrap_err().to_string();
        assert!(
            error.contains("an output of 2 values does not fit a buffer of 3"),
            "{error}"
        );
        assert_eq!(
            out,
            [1.0, 2.0, 3.0],
            "a refused copy leaves the buffer alone"
        );
    }
}
