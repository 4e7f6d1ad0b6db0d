"""Provider accountability (谁提供谁负责, Art8): timeliness, completeness, accuracy and
authenticity of every catalogue dataset, scored continuously with evidence, kept as history,
with alerts when a score falls below its threshold."""
