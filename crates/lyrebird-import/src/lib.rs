//! Importers: Postman collections and environments, OpenAPI / Swagger and HAR files become engine
//! examples; mocks export back to Postman and to the native format. Pure: files in, examples and
//! warnings out.
