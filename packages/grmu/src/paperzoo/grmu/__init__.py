"""paperzoo.grmu: Group-robust Machine Unlearning (De Min et al., TMLR 2025): REWEIGHT and MIU."""
