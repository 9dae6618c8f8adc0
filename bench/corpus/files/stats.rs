use std::collections::HashMap;
use std::fs;

pub struct Sample {
    pub name: String,
    pub values: Vec<f64>,
}

pub fn mean(v: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..v.len() {
        s += v[i];
    }
    s / v.len() as f64
}

pub fn median(v: &mut Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mid = v.len() / 2;
    if v.len() % 2 == 0 {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid + 1]
    }
}

pub fn load_samples(path: &str) -> Vec<Sample> {
    let text = fs::read_to_string(path).unwrap();
    let mut samples = Vec::new();
    for line in text.lines() {
        let mut parts = line.split(',');
        let name = parts.next().unwrap().to_string();
        let values = parts.map(|p| p.trim().parse::<f64>().unwrap()).collect();
        samples.push(Sample { name, values });
    }
    samples
}

pub fn histogram(values: &[f64], width: f64) -> HashMap<i64, usize> {
    let mut counts = HashMap::new();
    for v in values {
        let bucket = (v / width).floor() as i64;
        *counts.entry(bucket).or_insert(0) += 1;
    }
    counts
}
