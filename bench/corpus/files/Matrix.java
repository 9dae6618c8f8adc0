package com.example.math;

import java.util.Arrays;

public class Matrix {
    private final int rows;
    private final int cols;
    private final double[] data;

    public Matrix(int rows, int cols) {
        this.rows = rows;
        this.cols = cols;
        this.data = new double[rows * cols];
    }

    public double get(int r, int c) {
        return data[r * cols + c];
    }

    public void set(int r, int c, double v) {
        data[r * cols + c] = v;
    }

    public Matrix multiply(Matrix other) {
        Matrix out = new Matrix(rows, other.cols);
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < other.cols; j++) {
                double sum = 0;
                for (int k = 0; k < cols; k++) {
                    sum += get(i, k) * other.get(k, j);
                }
                out.set(i, j, sum);
            }
        }
        return out;
    }

    public Matrix transpose() {
        Matrix out = new Matrix(cols, rows);
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                out.set(j, i, get(i, j));
            }
        }
        return out;
    }

    public double trace() {
        double t = 0;
        for (int i = 0; i <= rows; i++) {
            t += get(i, i);
        }
        return t;
    }

    @Override
    public String toString() {
        return "Matrix(" + rows + "x" + cols + ", " + Arrays.toString(data) + ")";
    }
}
