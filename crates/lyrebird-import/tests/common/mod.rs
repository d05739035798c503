//! What the integration tests share: the corpus of real files, and compiling an import
//! into a mock the way the server does.

#![allow(dead_code)] // Each test binary uses its own part of this module.

pub mod requests;

use std::path::PathBuf;

use lyrebird_engine::{CompiledMock, Example};
use lyrebird_import::ImportedMock;
use uuid::Uuid;

/// `tests/corpus/<kind>`: real files written by others (`tests/corpus/SOURCES.md`).
pub fn corpus_dir(kind: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(kind)
}

/// Every file of one corpus folder, by name, sorted.
pub fn corpus_files(kind: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(kind);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| {
            let path = entry.expect("directory entry").path();
            let name = path
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            let bytes = std::fs::read(&path).expect("readable corpus file");
            (name, bytes)
        })
        .collect();
    files.sort();
    files
}

/// Ids in example order, as UUIDv7 ids from the store would be.
pub fn with_ids(examples: &[Example]) -> Vec<(Uuid, Example)> {
    examples
        .iter()
        .enumerate()
        .map(|(position, example)| (Uuid::from_u128(position as u128 + 1), example.clone()))
        .collect()
}

pub fn compile(mock: &ImportedMock) -> CompiledMock {
    CompiledMock::compile(
        with_ids(&mock.examples),
        mock.settings.clone(),
        mock.environment.clone(),
    )
    .unwrap_or_else(|errors| panic!("{} does not compile: {errors:?}", mock.name))
}
