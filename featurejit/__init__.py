"""featurejit compiles type-annotated Python feature resolvers to native kernels over Arrow."""
