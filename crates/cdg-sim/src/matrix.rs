//! [`Matrix`]: the dense integer matrices the functional executor and the stepped engine
//! compute on (the im2col ifmap A, the filter matrix B, the outputs).

use crate::error::SimError;

/// A dense row-major matrix of i64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<i64>,
}

impl Matrix {
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self {
            rows,
            cols,
            data: vec![0; rows * cols],
        }
    }

    pub fn from_fn(rows: usize, cols: usize, mut f: impl FnMut(usize, usize) -> i64) -> Self {
        let mut data = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            for c in 0..cols {
                data.push(f(r, c));
            }
        }
        Self { rows, cols, data }
    }

    /// A `rows × cols` matrix of the row-major `data`.
    pub fn from_vec(rows: usize, cols: usize, data: Vec<i64>) -> Result<Self, SimError> {
        if data.len() != rows * cols {
            return Err(SimError::DataLength {
                tensor: "matrix",
                shape: vec![rows, cols],
                expected: rows * cols,
                found: data.len(),
            });
        }
        Ok(Self { rows, cols, data })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn get(&self, r: usize, c: usize) -> i64 {
        self.data[r * self.cols + c]
    }

    pub fn set(&mut self, r: usize, c: usize, v: i64) {
        self.data[r * self.cols + c] = v;
    }

    pub fn add(&mut self, r: usize, c: usize, v: i64) {
        self.data[r * self.cols + c] += v;
    }

    /// Row-major values.
    pub fn as_slice(&self) -> &[i64] {
        &self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_data_length_is_named() {
        let e = Matrix::from_vec(2, 3, vec![0; 5]).unwrap_err().to_string();
        assert_eq!(e, "matrix: 5 values for shape [2, 3]; expected 6");
        let m = Matrix::from_vec(2, 2, vec![1, 2, 3, 4]).unwrap();
        assert_eq!((m.get(1, 0), m.as_slice().len()), (3, 4));
    }
}
