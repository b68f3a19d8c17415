"""Hand-written mutation testing: does the suite catch plausible mistakes?

  python scripts/mutation_run.py [--only NAME,...] > mutants.jsonl

Each mutant below is one small, plausible mistake in the numerical core
(steps.py, sampling.py, quantize.py, layers.py, gru.py, gru_pallas.py, precision.py,
kernels.py, sharding.py, model.py, batches.py, levels.py, cost.py), the training
data's handling (trim.py, config.py, packing.py, splits.py, datasets.py), the
checkpoints, the workdir and the trainer's host loop (checkpoint.py,
workdir.py, files.py, metrics.py, trainer.py, distributed.py, cli.py,
progress.py),
what sample.py writes and reads (sample_files.py, audio.py) or the evaluation
(samplernn_jax/evaluation/): a swapped gate, a missing clip, a wrong
constant, a Frechet term halved. For each, the script
copies the repository to a temporary folder, applies the one edit (the
original text must occur exactly once), runs the tests named for that module
with ``pytest -x`` and reports whether they failed (the mutant is killed) or
passed (it survived). First comes a control, the same tests on an unmutated
copy, which must pass (``control_passed``; a broken copy would kill every
mutant). One JSON line a mutant, then a summary line with the score.
tests/README.md lists the last run's result and explains each survivor.

A mutant that survives is either a gap in the tests (write one that kills
it) or equivalent (the edit cannot change behaviour: say why).
"""
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from absl import app, flags

from samplernn_jax import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_ONLY = flags.DEFINE_list("only", [], "run only these mutants (by name)")
_TIMEOUT = flags.DEFINE_integer("timeout", 900, "seconds per mutant before it counts as killed")

# Tests run per mutated module: the fast files that cover it, and the named
# tests of the slower ones written for it.
TESTS = {
    "steps": ["tests/test_reference.py", "tests/test_model.py",
              "tests/test_train.py::test_gradients_are_clipped_element_wise_then_adam",
              "tests/test_faults.py::test_finite_loss_with_a_nonfinite_gradient_changes_nothing",
              "tests/test_faults.py::test_a_batch_or_length_of_the_wrong_shape_is_named",
              "tests/test_train.py::test_cost_falls_on_synthetic_data",
              "tests/test_variants.py::test_sampler_and_trainer_run_a_variants_own_model_methods",
              "tests/test_variants.py::test_a_tier_may_carry_a_state_of_its_own_width",
              "tests/test_train.py::test_a_variants_cost_fn_is_minimised_and_evaluation_keeps_the_bits"],
    "sampling": ["tests/test_sampling.py", "tests/test_levels.py",
                 "tests/test_gru_pallas.py::test_the_sampler_steps_frames_with_xla_whatever_trained_the_model",
                 "tests/test_variants.py::test_sampler_keeps_a_variants_own_first_layer",
                 "tests/test_variants.py::test_sampler_keeps_a_variants_own_layers_built_in_setup",
                 "tests/test_variants.py::test_sampler_and_trainer_run_a_variants_own_model_methods",
                 "tests/test_variants.py::test_sampler_refuses_a_variant_that_overrides_the_training_forward",
                 "tests/test_variants.py::test_teacher_forcing_gap_sees_a_sampler_that_runs_another_function",
                 "tests/test_variants.py::test_teacher_forcing_gap_sees_a_dropped_bias_on_freshly_initialised_parameters",
                 "tests/test_sample_cli.py::test_numbers_that_pass_comparisons_are_refused_by_name"],
    "quantize": ["tests/test_quantize.py", "tests/test_reference.py", "tests/test_data.py"],
    "layers": ["tests/test_reference.py", "tests/test_model.py", "tests/test_kernels.py",
               "tests/test_variants.py"],
    "gru": ["tests/test_reference.py", "tests/test_model.py"],
    "gru_pallas": ["tests/test_gru_pallas.py"],
    "precision": ["tests/test_model.py", "tests/test_variants.py"],
    "kernels": ["tests/test_kernels.py",
                "tests/test_variants.py::test_table_lookup_equals_matmul"],
    "model": ["tests/test_reference.py", "tests/test_model.py", "tests/test_variants.py"],
    "batches": ["tests/test_data.py", "tests/test_reference.py"],
    "levels": ["tests/test_levels.py"],
    "cost": ["tests/test_reference.py", "tests/test_import_score.py::test_score_equals_reference_bits",
             "tests/test_import_score.py::test_score_other_chunking_and_clip_limit",
             "tests/test_import_score.py::test_bad_input_script",
             "tests/test_train.py::test_evaluation_cost_is_the_mean_over_every_target_sample",
             "tests/test_faults.py::test_score_refuses_data_whose_classes_json_names_other_classes",
             "tests/test_faults.py::test_score_refuses_data_of_another_rate_without_offering_the_key",
             "tests/test_demo.py::test_the_evaluator_refuses_a_class_the_model_does_not_have"],
    "config": ["tests/test_configs.py",
               "tests/test_train.py::test_a_variants_own_config_keys_build_train_and_come_back",
               "tests/test_train.py::test_a_new_runs_seed_must_fit_jaxs_32_bits",
               "tests/test_sample_cli.py::test_seeds_past_32_bits_are_refused"],
    "sharding": ["tests/test_gru_pallas.py::test_pallas_options_train_on_several_devices_as_xla"],
    "trim": ["tests/test_data.py"],
    "evaluation/frechet": ["tests/test_evaluation.py"],
    "evaluation/features": ["tests/test_evaluation.py"],
    "evaluation/classifier": ["tests/test_evaluation.py"],
    "evaluation/run": ["tests/test_evaluation.py"],
    "evaluation/report": ["tests/test_evaluation.py::test_confusion_matrix_rows_are_the_true_classes"],
    "sample_files": ["tests/test_sample_cli.py", "tests/test_levels.py",
                     "tests/test_evaluation.py::test_the_random_baseline_draws_as_sample_py_or_as_the_paper"],
    "cli": ["tests/test_cli.py::test_help_lists_the_config_flag",
            "tests/test_cli.py::test_config_error_lines_name_the_key_where_it_was_set_and_the_file",
            "tests/test_cli.py::test_numbers_reads_string_and_list_flags_and_names_the_kind_expected",
            "tests/test_cli.py::test_call_parses_the_argv_given_or_else_the_processs_own",
            "tests/test_cli.py::test_the_default_config_loads_from_a_checkout_whose_path_holds_a_colon",
            "tests/test_cli.py::test_what_the_system_refuses_is_one_error_line",
            "tests/test_cli.py::test_a_config_files_own_mistake_is_one_error_line_naming_its_line",
            "tests/test_faults.py::test_an_output_the_system_refuses_is_one_error_line",
            "tests/test_cli.py::test_scripts_beside_training_take_gpu_memory_as_needed",
            "tests/test_faults.py::test_a_second_ctrl_c_quits_at_once_but_a_repeated_notice_does_not"],
    "packing": ["tests/test_packers.py"],
    "progress": ["tests/test_cli.py::test_progress_bars_redraw_once_a_minute_into_a_log_file"],
    "splits": ["tests/test_data.py", "tests/test_fuzz.py",
               "tests/test_evaluation.py::test_f_real_cache_key_covers_every_clip",
               "tests/test_faults.py::test_resume_on_other_data_is_refused",
               "tests/test_packers.py::test_a_split_packed_at_another_rate_than_the_configs_is_refused",
               "tests/test_faults.py::test_hand_written_utf8_json_reads_under_an_ascii_locale"],
    "__init__": ["tests/test_cli.py::test_native_windows_is_told_to_use_wsl"],
    "run_status": ["tests/test_faults.py::test_a_status_file_that_cannot_be_written_is_a_warning_not_the_runs_error"],
    "datasets": ["tests/test_data.py"],
    "checkpoint": ["tests/test_train.py::test_resumed_run_equals_unbroken_run",
                   "tests/test_train.py::test_best_holds_the_lowest_valid_evaluation",
                   "tests/test_sample_cli.py",
                   "tests/test_variants.py::test_readme_variant_in_own_code_trains_samples_and_is_what_it_says",
                   "tests/test_variants.py::test_model_class_check_tells_modules_apart",
                   "tests/test_variants.py::test_a_params_refusal_names_four_of_each_kind_then_says_there_are_more",
                   "tests/test_variants.py::test_keep_one_checkpoint_keeps_one",
                   "tests/test_variants.py::test_save_takes_the_two_folders_only_and_a_dict_meta",
                   "tests/test_fuzz.py::test_the_class_count_comes_from_the_meta_else_the_config",
                   "tests/test_faults.py::test_a_killed_saves_temporary_folder_is_removed_at_the_next_start"],
    "evaluation/samples": ["tests/test_evaluation.py",
                           "tests/test_sample_cli.py::test_prime_is_continued",
                           "tests/test_sample_cli.py::test_class_names_match_in_either_unicode_form_and_case_blind_file_names_differ"],
    "audio": ["tests/test_fuzz.py", "tests/test_evaluation.py"],
    "metrics": ["tests/test_train.py::test_metrics_of_steps_after_the_resumed_checkpoint_are_dropped",
                "tests/test_train.py::test_resumed_run_equals_unbroken_run"],
    "workdir": ["tests/test_evaluation.py::test_clips_still_being_written_are_not_evaluated",
                "tests/test_faults.py::test_second_run_on_a_workdir_is_refused_until_the_first_dies",
                "tests/test_faults.py::test_a_released_workdir_is_free_for_the_same_process",
                "tests/test_faults.py::test_a_file_where_a_folder_belongs_is_named",
                "tests/test_faults.py::test_unwritable_workdir_is_refused_and_checkpoints_stay",
                "tests/test_faults.py::test_a_start_refused_before_any_work_leaves_no_folder",
                "tests/test_sample_cli.py::test_a_run_holds_its_folder_until_its_last_write",
                "tests/test_sample_cli.py::test_a_refused_stream_writes_nothing"],
    "files": ["tests/test_faults.py::test_a_write_that_fails_half_way_leaves_the_earlier_file",
              "tests/test_faults.py::test_one_path_twice_in_a_write_of_several_files_is_refused",
              "tests/test_faults.py::test_a_write_that_fails_at_the_second_clip_replaces_none",
              "tests/test_faults.py::test_a_file_given_for_a_folder_to_read_is_called_a_file",
              "tests/test_sample_cli.py::test_a_stream_raises_the_open_files_limit_or_refuses_before_writing"],
    "distributed": ["tests/test_distributed.py::test_sigterm_to_one_process_stops_both_at_one_saved_step",
                    "tests/test_distributed.py::test_distributed_flag_lets_jax_detect_the_cluster",
                    "tests/test_distributed.py::test_idle_gpus_under_slurm_are_named"],
    "trainer": ["tests/test_faults.py::test_a_failed_start_closes_the_checkpoint_managers_and_writer",
                "tests/test_faults.py::test_a_stop_whose_save_fails_closes_what_the_run_opened",
                "tests/test_train.py::test_resumed_run_equals_unbroken_run",
                "tests/test_train.py::test_a_new_runs_seed_must_fit_jaxs_32_bits",
                "tests/test_train.py::test_a_variants_own_config_keys_build_train_and_come_back",
                "tests/test_variants.py::test_sampler_refuses_a_variant_that_overrides_the_training_forward",
                "tests/test_train.py::test_eval_every_steps_0_evaluates_once_per_epoch_and_at_the_end",
                "tests/test_train.py::test_best_holds_the_lowest_valid_evaluation",
                "tests/test_train.py::test_cost_falls_on_synthetic_data",
                "tests/test_train.py::test_train_bits_are_the_mean_of_their_own_logging_window",
                "tests/test_train.py::test_the_trainer_draws_batches_with_the_configs_data_settings",
                "tests/test_train.py::test_training_samples_at_evaluations",
                "tests/test_train.py::test_training_samples_leave_out_a_class_without_a_level",
                "tests/test_faults.py::test_sigterm_between_checkpoints_saves_that_step",
                "tests/test_faults.py::test_resume_refuses_each_key_the_readme_names",
                "tests/test_faults.py::test_a_workdir_with_best_but_no_checkpoints_is_not_started_again",
                "tests/test_faults.py::test_resume_on_other_data_is_refused",
                "tests/test_distributed.py::test_a_workdir_refused_to_process_0_stops_every_process",
                "tests/test_faults.py::test_an_eval_batch_the_devices_cannot_split_is_refused_before_the_workdir",
                "tests/test_distributed.py::test_processes_that_differ_in_config_or_workdir_all_stop_naming_it",
                "tests/test_faults.py::test_a_second_ctrl_c_during_the_stops_save_quits_at_once",
                "tests/test_faults.py::test_nonfinite_loss_stops_and_resume_finishes",
                "tests/test_train.py::test_each_evaluation_line_says_where_the_best_state_and_the_clips_are"],
    "signals": ["tests/test_faults.py::test_a_second_ctrl_c_quits_at_once_but_a_repeated_notice_does_not"],
    "agreement": ["tests/test_distributed.py::test_differences_name_each_key_split_and_step_against_process_0",
                  "tests/test_distributed.py::test_a_listing_that_differs_is_asked_again_together_then_refused",
                  "tests/test_distributed.py::test_the_start_asks_once_when_every_process_sees_the_token",
                  "tests/test_distributed.py::test_hosts_compare_the_config_but_not_where_their_data_lies",
                  "tests/test_distributed.py::test_processes_that_differ_in_config_or_workdir_all_stop_naming_it"],
}

# name: (module, original text, mutated text)
MUTANTS = {
    "no_grad_clip": ("steps", "return optax.chain(optax.clip(config.grad_clip), adam)",
                     "return adam"),
    "clip_after_adam": ("steps", "return optax.chain(optax.clip(config.grad_clip), adam)",
                        "return optax.chain(adam, optax.clip(config.grad_clip))"),
    "global_norm_clip": ("steps", "optax.chain(optax.clip(config.grad_clip), adam)",
                         "optax.chain(optax.clip_by_global_norm(config.grad_clip), adam)"),
    "finite_checks_loss_only": ("steps", "finite = jnp.isfinite(loss) & jnp.all(",
                                "finite = jnp.isfinite(loss) | jnp.all("),
    "bad_step_applied": ("steps", "params=keep(params, state.params),", "params=params,"),
    "cost_in_nats": ("steps", "return -(lp * batch[\"mask\"]).sum() / LN2,",
                     "return -(lp * batch[\"mask\"]).sum(),"),
    "mask_ignored": ("steps", "return -(lp * batch[\"mask\"]).sum() / LN2,",
                     "return -lp.sum() / LN2,"),
    "reset_inverted": ("steps", "sel = lambda a, b: jnp.where(reset[:, None, None], a, b)",
                       "sel = lambda a, b: jnp.where(reset[:, None, None], b, a)"),
    "state_not_carried": ("steps", "rnn_state=keep(h_out, state.rnn_state),",
                          "rnn_state=state.rnn_state,"),
    "temperature_multiplies": ("sampling", "jnp.where(temperature > 0, noise + logits / t, logits)",
                               "jnp.where(temperature > 0, noise + logits * t, logits)"),
    "same_key_every_sample": ("sampling", "(key, pos + jnp.arange(n))", "(key, 0 * jnp.arange(n))"),
    "noise_of_frame_start": ("sampling", "(key, pos + jnp.arange(n))", "(key, pos + 0 * jnp.arange(n))"),
    "log_prob_of_guided_logits": ("sampling", "out = cond_logits if batched_draws else",
                                  "out = draw if batched_draws else"),
    "argmax_always": ("sampling", "jnp.where(temperature > 0, noise",
                      "jnp.where(temperature > 1e9, noise"),
    "gap_on_given_params": ("sampling", "  params = _perturbed(params, noise, seed)\n", ""),
    "forced_ignored": ("sampling", "x = jnp.where(f >= 0, f, x)", "x = x"),
    "linear_half_eps": ("quantize", "q += _EPS / 2\n", "q += _EPS\n"),
    "q_zero_off_by_one": ("quantize", "return q_levels // 2\n", "return q_levels // 2 - 1\n"),
    "dequantize_no_centre": ("quantize", "return (q.astype(xp.float32) + 0.5) / (q_levels / 2) - 1.0",
                             "return q.astype(xp.float32) / (q_levels / 2) - 1.0"),
    "mu_is_q_levels": ("quantize", "  mu = q_levels - 1.0\n  mag =", "  mu = float(q_levels)\n  mag ="),
    "frame_input_unscaled": ("quantize", "return (q.astype(jnp.result_type(float)) / (q_levels / 2) - 1.0) * 2.0",
                             "return q.astype(jnp.result_type(float)) / (q_levels / 2) - 1.0"),
    "dither_unclipped": ("quantize", "q = np.clip(np.floor(q + dither), 0, q_levels - 1)",
                         "q = np.floor(q + dither)"),
    "gru_gates_swapped": ("gru", "z, r = gates[..., :n], gates[..., n:]",
                          "r, z = gates[..., :n], gates[..., n:]"),
    "gru_mix_inverted": ("gru", "return z * c + (1.0 - z) * h", "return (1.0 - z) * c + z * h"),
    "lstm_no_forget": ("layers", "c = f * c + i * u", "c = c + i * u"),
    "lstm_state_rounded": ("layers", "h, c = s[..., :n], s[..., n:]",
                           "h, c = s[..., :n], s[..., n:].astype(dtype).astype(s.dtype)"),
    "weight_norm_rows": ("layers", "w = kernel * (scale / jnp.linalg.norm(kernel, axis=0))",
                         "w = kernel * (scale / jnp.linalg.norm(kernel))"),
    "bf16_backward_float32_cotangent": ("precision", "  gl = g.astype(dtype)\n", "  gl = g\n"),
    "gru_grad_no_reset_path": ("gru", "dh = g * (1.0 - z) + d_rh * r + ", "dh = g * (1.0 - z) + "),
    "gru_grad_last_ignored": ("gru", "jax.lax.scan(body, d_last,", "jax.lax.scan(body, 0 * d_last,"),
    "relu_mask_inclusive": ("precision", "jnp.where(y > 0, g, 0)", "jnp.where(y >= 0, g, 0)"),
    "table_grad_positions_reversed": (
        "layers", "jax.nn.one_hot(idx, q, dtype=dtype)", "jax.nn.one_hot(idx[:, ::-1], q, dtype=dtype)"),
    "kernel_positions_collapsed": ("kernels", "lambda j, k: (j, 0, k)", "lambda j, k: (0, 0, k)"),
    "kernel_last_rows_dropped": ("kernels", "n_blocks=n_pad // block_n,",
                                 "n_blocks=n_pad // block_n - 1,"),
    "unroll_not_passed": ("sampling", "(upper, forced, noise), unroll=unroll)",
                          "(upper, forced, noise))"),
    "log_softmax_float_logits": ("model", "return _target_log_prob(logits.astype(jnp.promote_types(logits.dtype, jnp.float32)),",
                                 "return _target_log_prob(logits.astype(jnp.bfloat16),"),
    "loss_grad_unweighted": ("model", "return one_hot * g + e * (-g / total), None",
                             "return one_hot + e * (-1.0 / total), None"),
    "loss_grad_target_shifted": ("model", "one_hot = (targets[..., None] == q)",
                                 "one_hot = (targets[..., None] == q - 1)"),
    "slow_scatter_warns_on_fixed_jax": ("config", "not first <= _version(jax_version) < fixed",
                                        "not first <= _version(jax_version)"),
    "log_every_zero_accepted": ("config", '"num_epochs", "log_every_steps", "checkpoint_every_steps",',
                                '"num_epochs", "checkpoint_every_steps",'),
    "chunk_overlap_short": ("batches", "return q[:, s:s + seq_len + frame_size], mask[:, s:s + seq_len]",
                            "return q[:, s:s + seq_len + frame_size - 1], mask[:, s:s + seq_len]"),
    "epoch_order_ignores_epoch": ("batches", "return np.random.default_rng([seed, epoch]).permutation(num_clips)",
                                  "return np.random.default_rng([seed]).permutation(num_clips)"),
    "rows_not_reordered": ("batches", "wav_rows = wav_rows[np.argsort(np.argsort(rows))]  # back to shuffled order",
                           "pass"),
    "dither_per_batch": ("batches", "noise = (clip_dither([(self.seed, epoch, int(r)) for r in rows], wav_rows.shape[1])",
                         "noise = (clip_dither([(self.seed, epoch, i) for i in range(len(rows))], wav_rows.shape[1])"),
    "eval_keeps_last_batch_only": ("cost", "total, count = total + bits, count + cnt",
                                   "total, count = bits, cnt"),
    "class_level_keeps_dc": ("levels", "    x = x - x.mean(axis=-1, keepdims=True)\n", "    x = x\n"),
    "class_rms_mean_not_median": ("levels", "float(np.median(per_clip[sid == c]))",
                                  "float(np.mean(per_clip[sid == c]))"),
    "class_level_may_clip": ("levels", "y = np.where(m > 1.0, y / np.maximum(m, 1.0), y)", "y = y"),
    # what sample.py writes: which class a clip is, its file, a mix's weights
    "mix_not_renormalised": ("sample_files", "return (vec / total).astype(np.float32)",
                             "return vec.astype(np.float32)"),
    "file_numbers_repeat": ("sample_files", "counts[lab.casefold()] = i + 1",
                            "counts[lab.casefold()] = i"),
    "class_index_off_by_one": ("sample_files", "token.isdecimal() and int(token) < len(names):",
                               "token.isdecimal() and int(token) <= len(names):"),
    # the training data's handling (docs/quality.md: what made classes recognisable)
    "trim_keeps_the_quiet": ("trim", "return spread >= threshold * level if level > 0",
                             "return spread < threshold * level if level > 0"),
    "trim_drops_the_tail": ("trim", "return np.concatenate([kept, clip[whole:]])", "return kept"),
    "balance_with_replacement": ("batches", "passes = [rng.permutation(rows) for _ in range(-(-most // len(rows)))]",
                                 "passes = [rng.choice(rows, most)]"),
    "balance_not_shuffled": ("batches", "return rng.permutation(np.concatenate(draws))",
                             "return np.concatenate(draws)"),
    # the evaluation: the instrument that says whether clips carry their class
    "frechet_trace_halved": ("evaluation/frechet", "- 2.0 * tr_sqrt)", "- tr_sqrt)"),
    "frechet_biased_covariance": ("evaluation/frechet", "np.cov(emb, rowvar=False)",
                                  "np.cov(emb, rowvar=False, bias=True)"),
    "hann_symmetric": ("evaluation/features", "np.arange(n) / n))", "np.arange(n) / (n - 1)))"),
    "magnitude_not_power": ("evaluation/features", "power = jnp.real(spec) ** 2 + jnp.imag(spec) ** 2",
                            "power = jnp.abs(spec)"),
    "cover_stops_short": ("evaluation/features", "np.linspace(0, num_samples - window, k)",
                          "np.linspace(0, num_samples - window - 1, k)"),
    "last_feature_batch_dropped": ("evaluation/features", "  if n_pending:\n", "  if False:\n"),
    "selection_keeps_first_tie": ("evaluation/classifier", 'if rec["valid_acc"] >= best_acc:',
                                  'if rec["valid_acc"] > best_acc:'),
    "no_model_selection": ("evaluation/classifier", 'if rec["valid_acc"] >= best_acc:', "if False:"),
    "train_not_standardised": ("evaluation/classifier", "x = (feats[rows] - mean) / std",
                               "x = feats[rows]"),
    "per_class_precision": ("evaluation/run", "float(np.mean(preds[labels == c] == c))",
                            "float(np.mean(labels[preds == c] == c))"),
    "frechet_real_against_real": ("evaluation/run", '_frechet_or_none(emb_rt, emb_g, "overall", notes)',
                                  '_frechet_or_none(emb_rt, emb_rt, "overall", notes)'),
    "valid_acc_last_not_best": ("evaluation/classifier", "return max(accs) if accs else None",
                                "return accs[-1] if accs else None"),
    # the sampler's hidden1 fold, the batch format, late-failing settings
    "fold_misses_tier_output": ("sampling", "tier[\"output\"] = dict(out, kernel=kernel.reshape(out[\"kernel\"].shape),",
                                "tier[\"output\"] = dict(out, kernel=out[\"kernel\"],"),
    "fold_misses_tier_bias": ("sampling", "bias=bias.reshape(-1))", "bias=out[\"bias\"])"),
    "fold_misses_cond": ("sampling", 'for name in ("prev_samples", "cond"):',
                         'for name in ("prev_samples",):'),
    "batch_spec_no_overlap": ("batches", '"chunk": ((b, seq_len + frame_size), np.dtype(np.int32)),',
                              '"chunk": ((b, seq_len), np.dtype(np.int32)),'),
    "sample_seconds_zero_allowed": ("config", "and round(config.sample_seconds * config.sample_rate) >= 1):",
                                    "and round(config.sample_seconds * config.sample_rate) >= 0):"),
    "trim_frame_fixed": ("trim", "return max(1, round(FRAME_SECONDS * sample_rate))",
                         "return FRAME"),
    "bf16_tables_cast_too": ("sampling", "params = kernels_to(params, model.dtype, tables)",
                             "params = kernels_to(params, model.dtype)"),
    # the GRU frame loops in Pallas kernels (config.rnn_kernel='pallas')
    "pallas_state_mix_swapped": ("gru_pallas", "= z * c + (1.0 - z) * hs_in[t, rows, cols]",
                                 "= (1.0 - z) * c + z * hs_in[t, rows, cols]"),
    "pallas_da_c_not_tanh_grad": ("gru_pallas", "dxp_ref[t, rows, _cols(bn, 2 * n)] = g * z * (1.0 - c * c)",
                                  "dxp_ref[t, rows, _cols(bn, 2 * n)] = g * z * (1.0 - c)"),
    "pallas_drh_from_g_z": ("gru_pallas", "return (g * zrc_ref[t, rows, ks] * (1.0 - c * c)).astype(dtype)",
                            "return (g * zrc_ref[t, rows, ks]).astype(dtype)"),
    "pallas_dh_misses_r_path": ("gru_pallas", "part_ref[rows, cols] = g * (1.0 - z) + d_rh * r",
                                "part_ref[rows, cols] = g * (1.0 - z)"),
    "pallas_backward_counts_up": ("gru_pallas", "return i if last is None else last - i", "return i"),
    "pallas_remainder_dropped": ("gru_pallas", "for k in range(trips * u, f):",
                                 "for k in range(trips * u, f - 1):"),
    "sampler_keeps_pallas_gru": ("sampling", 'l1_impl="matmul", rnn_kernel="xla")', 'l1_impl="matmul")'),
    # Pallas calls on a mesh of several devices (sharding.per_device)
    "pallas_calls_gather_the_batch": ("sharding", "  if mesh is None:\n    return fn",
                                      "  if True:\n    return fn"),
    "device_sums_not_added": ("sharding", "return x.reshape(-1, rows, *x.shape[1:]).sum(0)",
                              "return x.reshape(-1, rows, *x.shape[1:])[0]"),
    # the entry points' --help (cli.py)
    "config_flag_not_key": ("cli", "  flags.declare_key_flag(holder.name)", "  pass"),
    "help_exits_1": ("cli", "raise SystemExit(0 if asked and e.code == 1 else e.code)",
                     "raise SystemExit(e.code)"),
    # packing recordings into splits (packing.py), reading them (splits.py,
    # datasets.py): a wrong clip, split or class here trains on the wrong data
    "mono_first_channel": ("packing", "return x.mean(axis=1), int(sr)", "return x[:, 0], int(sr)"),
    "resample_ratio_inverted": ("packing", "signal.resample_poly(np.asarray(x, np.float64), up, down)",
                                "signal.resample_poly(np.asarray(x, np.float64), down, up)"),
    "resampled_length_floor": ("packing", "return -(-n * up // down)", "return n * up // down"),
    "disjoint_unchecked": ("packing", "      if key in seen:\n", "      if key in seen and False:\n"),
    "no_group_left_for_rest": ("packing", "len(gs) - 1 - start)", "len(gs) - start)"),
    "empty_split_not_filled": ("packing", "if frac > 0 and not any(groups[s].values()):",
                               "if False:"),
    "existing_output_overwritten": ("packing", "if existing and not overwrite and not resuming:",
                                    "if existing and not overwrite and False:"),
    "stage_signature_ignores_mtime": ("packing", "st.st_size, st.st_mtime_ns, r.sid]",
                                      "st.st_size, r.sid]"),
    "stale_split_kept": ("packing", "        os.remove(final)\n", "        pass\n"),
    "own_staged_splits_removed": ("packing", "if _STAGE_RE.match(name) and name not in keep:",
                                  "if _STAGE_RE.match(name):"),
    "hidden_files_packed": ("packing", "if not f.startswith(\".\") and f.lower() not in SYSTEM_FILES]",
                            "if f.lower() not in SYSTEM_FILES]"),
    "location_last_field": ("packing", "os.path.basename(cols[0]).split(\"_\")[0]",
                            "os.path.basename(cols[0]).split(\"_\")[-1]"),
    "fold_label_unchecked": ("packing", "if len(cols) > 1 and cols[1] and cols[1] != DCASE2016_CLASSES[sid]:",
                             "if False:"),
    "summary_counts_recordings": ("packing", "per_class[r.sid] += counts[r.path]",
                                  "per_class[r.sid] += 1"),
    "finite_first_row_only": ("splits", "block = np.asarray(wav[start:start + rows])",
                              "block = np.asarray(wav[start:start + 1])"),
    "negative_sid_accepted": ("splits", "if sid.min() < 0 or (n_classes", "if (n_classes"),
    "duplicate_class_names": ("splits", "\n        or len(set(names)) != len(names)):", "):"),
    "fingerprint_ignores_mtime": ("datasets", "{st.st_size}\\0{st.st_mtime_ns}\\0", "{st.st_size}\\0"),
    "never_packed_again": ("datasets", "    if packed_from != fingerprint:\n",
                           "    if packed_from is None:\n"),
    "classes_json_ignored": ("datasets", "n_classes = len(load_class_names(data_dir, 0))",
                             "n_classes = max(int(sp.sid.max()) for sp in splits.values()) + 1"),
    # checkpoints and the host loop (checkpoint.py, trainer.py)
    "keeps_one_more": ("checkpoint", "manager(os.path.join(workdir, LATEST), max(1, keep))",
                       "manager(os.path.join(workdir, LATEST), max(1, keep) + 1)"),
    "latest_is_oldest": ("checkpoint", "    return LATEST, found[-1]", "    return LATEST, found[0]"),
    "stop_decided_alone": ("distributed", "  return max_over_processes(requested or 0) or None\n",
                           "  return requested\n"),
    "jax_keeps_sigterm": ("distributed", '    jax.config.update("jax_enable_preemption_service", False)\n',
                          "    pass\n"),
    "idle_gpus_unnamed": ("distributed", "  if gpus <= tasks * local_devices:\n", "  if True:\n"),
    "refusal_kept_by_process_0": ("trainer", "    if distributed.max_over_processes(int(refused is not None)):\n",
                                  "    if refused is not None:\n"),
    "packing_unlocked": ("datasets", '      stack.enter_context(files.exclusive(os.path.join(data_dir, PACKED + ".lock"), "packing"))\n',
                         "      pass\n"),
    "prime_scored_as_generated": ("evaluation/samples",
                                  "    wav = read_wav(path, sample_rate)[int(round(prime_seconds * sample_rate)):]\n",
                                  "    wav = read_wav(path, sample_rate)\n"),
    "stale_clips_kept": ("sample_files", "  for name in sorted(n for n in old if not listed(n)):\n",
                         "  for name in []:\n"),
    "case_twin_kept": ("sample_files", "      return os.path.samefile(os.path.join(out_dir, name), "
                       "os.path.join(out_dir, twin))", "      return True"),
    "case_twin_removed": ("sample_files", "      return os.path.samefile(os.path.join(out_dir, name), "
                          "os.path.join(out_dir, twin))", "      return False"),
    "one_path_twice_written": ("files", "  if len(set(paths)) != len(paths):", "  if False:"),
    "form_twins_merged": ("sample_files", "  if name in names:\n    return list(names).index(name)",
                          "  if False:\n    return list(names).index(name)"),
    "negative_temperature_accepted": ("sampling", "  if not (temperature >= 0 and temperature <= _FLOAT32_MAX):\n",
                                      "  if not abs(temperature) <= _FLOAT32_MAX:\n"),
    "latest_without_best_fallback": ("checkpoint", "    if steps(BEST):  # a folder that keeps only its best state (the demo's)\n",
                                     "    if False:\n"),
    "model_class_unchecked": ("checkpoint", "  if saved and not _same_class(saved, model_cls):\n",
                              "  if False:\n"),
    "resume_ignores_trim": ("trainer", '"trim_quiet", "cond_dropout", "max_eval_clips")',
                            '"cond_dropout", "max_eval_clips")'),
    "best_on_higher_valid": ("trainer", 'if best is None or record["valid_bits"] < best:',
                             'if best is None or record["valid_bits"] > best:'),
    "no_evaluation_at_the_end": ("trainer", "is_eval = done % self.eval_every == 0 or done == self.total",
                                 "is_eval = done % self.eval_every == 0"),
    "train_bits_not_reset": ("trainer", "    self.state = st.replace(bits_sum=jnp.zeros_like(st.bits_sum),\n"
                             "                            bits_count=jnp.zeros_like(st.bits_count))\n",
                             "    self.state = st\n"),
    "trainer_drops_cond_dropout": ("trainer", "      cond_dropout=config.cond_dropout, n_classes",
                                   "      cond_dropout=0.0, n_classes"),
    "samples_at_every_evaluation": ("trainer", "n_eval % config.sample_every_evals == 0",
                                    "n_eval % 1 == 0"),
    "eval_mean_of_chunk_means": ("cost", "total, count = total + bits, count + cnt",
                                 "total, count = total + bits / cnt, count + 1"),
    "frechet_per_class_real_only": ("evaluation/run", "emb_g[inp.y_gen == c],",
                                    "emb_rt[inp.y_test == c],"),
    "chance_of_the_smallest_class": ("evaluation/run", "counts.max() / max(counts.sum(), 1)",
                                     "counts.min() / max(counts.sum(), 1)"),
    "confusion_transposed": ("evaluation/report", "(np.asarray(labels), np.asarray(preds))",
                             "(np.asarray(preds), np.asarray(labels))"),
    "stream_manifest_not_rewritten": ("sample_files", "      record(done)  # a second Ctrl-C",
                                      "      pass  # a second Ctrl-C"),
    "stream_ignores_prime": ("sample_files",
                             "      forced, block_samples=int(block_seconds * rate), guidance=guidance)",
                             "      None, block_samples=int(block_seconds * rate), guidance=guidance)"),
    # reading generated clips (evaluation/samples.py, audio.py), the run
    # folder's lock, metrics and whole-file writes (workdir.py, metrics.py, files.py)
    "mixes_labelled_class_0": ("evaluation/samples", "      mixes += 1\n      continue\n",
                               "      idx = 0\n"),
    "manifest_name_unchecked": ("evaluation/samples",
                                "if check_names and name is not None and found != idx:",
                                "if False:"),
    "class_by_name_skipped": ("evaluation/samples", "if idx is None and name is not None:",
                              "if False:"),
    "safe_names_not_looked_up": ("evaluation/samples",
                                 "idx = find_class(m.group(1), safe) if idx is None else idx",
                                 "pass"),
    "file_names_compared_as_typed": ("evaluation/samples", "      idx = find_class(m.group(1), class_names)\n",
                                     "      idx = list(class_names).index(m.group(1)) "
                                     "if m.group(1) in class_names else None\n"),
    "manifest_ignored": ("evaluation/samples",
                         "if os.path.isfile(os.path.join(samples_dir, MANIFEST)):", "if False:"),
    "other_rate_accepted": ("audio", "  if sr != rate:\n", "  if False:\n"),
    "stereo_accepted": ("audio", "  if x.shape[1] != 1:\n", "  if False:\n"),
    "metrics_kept_past_resume": ("metrics", 'if r.get("step", 0) <= resume_step]', "]"),
    "lock_shared": ("workdir", "fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)",
                    "fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)"),
    "writable_unchecked": ("workdir", "      os.fsync(f.fileno())\n    os.remove(probe)\n  except OSError",
                           "      os.fsync(f.fileno())\n    os.remove(probe)\n  except ZeroDivisionError"),
    "write_in_place": ("files", "      staged.append((tmp, path))\n      write(tmp)\n",
                       "      write(path)\n"),
    "variants_rewritten_as_the_library": ("sampling", "  library = runs_library_tiers(model)\n",
                                          "  library = True\n"),
    # a session's review (2026-12-01): refusals that lost data or traced back
    "fresh_start_over_best": ("trainer", "    check_fresh_start(workdir, ckpts)\n", "    pass\n"),
    "grad_clip_off_resumed": ("trainer", '    diff.append("grad_clip")', "    pass"),
    "os_errors_traced": ("cli", "KNOWN_ERRORS = (errors.Error, ValueError, OSError)",
                         "KNOWN_ERRORS = (errors.Error, ValueError, FileNotFoundError, "
                         "FileExistsError)"),
    "made_rate_unchecked": ("datasets", "  if sample_rate is not None and sample_rate != "
                            "packing.DEFAULT_SAMPLE_RATE:\n", "  if False:\n"),
    "pack_summary_unlogged": ("datasets",
                              '      logging.warning("%s", packing.format_summary(summary))\n',
                              "      pass\n"),
    "split_missing_class_unsaid": ("packing", "    if missing and sum(counts):\n",
                                   "    if False:\n"),
    "no_classes_accepted": ("sample_files", "  if not picked:\n", "  if False:\n"),
    "sampler_runs_the_base_tier": ("sampling", 'method="tier")',
                                   "method=SampleRNN.tier)"),
    "sampler_base_conditioning": ("sampling", 'method="conditioning")',
                                  "method=SampleRNN.conditioning)"),
    "trainer_base_initial_state": ("steps", 'batch, method="initial_state")',
                                   "batch, method=SampleRNN.initial_state)"),
    "library_despite_own_setup": ("sampling", '            ("setup", "__call__", "first_layer"',
                                  '            ("__call__", "first_layer"'),
    "f_real_key_of_one_clip": ("splits",
                               "      h.update(np.ascontiguousarray(self.wav[i:i + rows]).tobytes())\n",
                               "      h.update(np.ascontiguousarray(self.wav[0]).tobytes())\n"),
    "resume_data_unchecked": ("trainer", "    check_resume_data(saved, data, config, workdir)\n",
                              "    pass\n"),
    "eval_first_clips": ("cost", "      keep = spread_indices(split.num_clips, c.max_eval_clips)\n",
                         "      keep = np.arange(c.max_eval_clips)\n"),
    "zero_epochs_accepted": ("config", '("dim", "batch_size", "num_epochs", "log_every_steps",',
                             '("dim", "batch_size", "log_every_steps",'),
    "missing_classes_unsaid": ("evaluation/run", "  if clips and missing:\n", "  if False:\n"),
    "stop_not_saved": ("trainer", "      try:\n        self.ckpt.save(self.state)\n      except "
                       "Exception:  # a non-finite", "      try:\n        pass\n      except "
                       "Exception:  # a non-finite"),
    "forced_level_q_accepted": ("sampling", "forced.max() < q_levels)", "forced.max() <= q_levels)"),
    "forced_block_from_start": ("sampling", "part = prime[:, start:start + n]", "part = prime[:, :n]"),
    "position_past_int32": ("sampling", "  if total >= MAX_RUN_SAMPLES:", "  if total > MAX_RUN_SAMPLES:"),
    "training_samples_of_every_class": ("trainer", "if (class_rms[c] or 0) > 0]", "if True]"),
    "synthetic_names_unchecked": (
        "evaluation/run", "    return data_dir, True\n", "    return data_dir, False\n"),
    "workdir_removed_though_not_made": (
        "workdir", "if exc_type is not None and self._made and self._f is not None:",
        "if exc_type is not None and self._f is not None:"),
    "linear_epsilon_doubled": ("quantize", "_EPS = np.float64(1e-5)", "_EPS = np.float64(2e-5)"),
    "mix_level_not_divided": ("levels", "(vecs * np.nan_to_num(lv)).sum(-1) / vecs.sum(-1)",
                              "(vecs * np.nan_to_num(lv)).sum(-1)"),
    "silence_at_full_peak": ("levels", "y = np.where(m > 0, x / np.where(m > 0, m, 1.0), 0.0) * peak",
                             "y = np.where(m > 0, x / np.where(m > 0, m, 1.0), 1.0) * peak"),
    "nan_learning_rate_accepted": (
        "config", "if not (config.learning_rate > 0 and math.isfinite(config.learning_rate)):",
        "if config.learning_rate <= 0:"),
    "float16_overflow_written": ("packing", "  if peak > limit:  # the cast would write them as Inf",
                                 "  if False:  # the cast would write them as Inf"),
    "staged_kept_on_bad_data": ("packing", "      if os.path.isfile(_staged(out_dir, split, sig)):\n",
                                "      if False:\n"),
    "mix_nan_accepted": ("sample_files", "    if not math.isfinite(weight):\n", "    if False:\n"),
    "turned_down_past_twice_full_scale": ("levels", "y = np.where(m > 1.0, y / np.maximum(m, 1.0), y)",
                                          "y = np.where(m > 2.0, y / np.maximum(m, 1.0), y)"),
    "trim_keeps_a_silent_clip": ("trim", "if level > 0 else np.zeros(len(frames), bool)",
                                 "if level >= 0 else np.zeros(len(frames), bool)"),
    "index_names_compared": (
        "cost", "if not trained or trained == [str(i) for i in range(len(trained))]:",
        "if not trained and trained == [str(i) for i in range(len(trained))]:"),
    "span_overflow_quantized": ("quantize", "  if not np.isfinite(mx).all():\n", "  if False:\n"),
    "huge_samples_accepted": ("audio", "    ok &= np.abs(x) <= MAX_ABS\n", "    pass\n"),
    "release_keeps_the_lock": ("workdir", "  def release(self) -> None:\n    if self._f is not None:",
                               "  def release(self) -> None:\n    if self._f is None:"),
    # the twentieth session (2026-12-02): a review as a user of several hosts
    "config_not_compared": ("agreement", '    keys = _keys_that_differ(rec.get("config"), first.get("config"))',
                            "    keys = []"),
    "workdir_token_not_compared": ("agreement",
                                   'if "workdir" in rec and rec["workdir"] != first["workdir"]:',
                                   "if False:"),
    "data_dir_compared": ("agreement", 'HOST_KEYS = ("data_dir",)', "HOST_KEYS = ()"),
    "steps_not_compared": ("agreement", 'if rec.get("step") != first.get("step"):', "if False:"),
    "processes_not_compared": ("trainer", "    agreement.check_start(config, workdir, token)\n",
                               "    pass\n"),
    "eval_batch_checked_late": ("trainer", "  if config.eval_batch_size:  # checked before",
                                "  if False:  # checked before"),
    "second_ctrl_c_ignored": ("signals",
                              "elif signum == signal.SIGINT and now - self._first_at >= FORCE_AFTER_S:",
                              "elif False:"),
    "duplicate_ctrl_c_quits": ("signals", "now - self._first_at >= FORCE_AFTER_S:",
                               "now - self._first_at >= 0:"),
    "repeated_sigterm_quits": ("signals", "elif signum == signal.SIGINT and now",
                               "elif now"),
    # the same session: a newcomer's review of the sampling path
    "prime_level_offset_lost": ("levels", "return (lo + (x + 1.0) / 2.0 * (hi - lo))",
                                "return ((x + 1.0) / 2.0 * (hi - lo))"),
    "prime_level_range_doubled": ("levels", "return (lo + (x + 1.0) / 2.0 * (hi - lo))",
                                  "return (lo + (x + 1.0) * (hi - lo))"),
    "constant_prime_accepted": ("levels",
                                "if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):",
                                "if not (math.isfinite(lo) and math.isfinite(hi)):"),
    "mix_recorded_as_given": ("sample_files", "[None] * per_class, [used] * per_class)",
                              "[None] * per_class, [mix] * per_class)"),
    "stream_ignores_prime_level": (
        "sample_files", "q_levels=c.q_levels,\n                              level=level, span=prime_span)",
        'q_levels=c.q_levels,\n                              level="none")'),
    "samples_checked_after_data": ("evaluation/run",
                                   "if baseline is None and not os.path.isdir(samples_dir):",
                                   "if False:"),
    "file_as_folder_unsaid": ("workdir", "  if os.path.exists(path) and not os.path.isdir(path):\n"
                              "    raise WorkdirError(f\"{setting}={path} is a file",
                              "  if False:\n    raise WorkdirError(f\"{setting}={path} is a file"),
    # the same session: a review of its own diff
    "probe_left_behind": ("agreement", "    if first:\n      workdir_lib.remove_probe(workdir)",
                          "    pass"),
    "start_waits_though_all_see_it": ("agreement", 'lambda e: any(r["workdir"] is None for r in e)',
                                      'lambda e: any(r["workdir"] is not None for r in e)'),
    "token_sent_not_read": ("agreement", '"workdir": token if first else workdir_lib.read_probe(workdir)',
                            '"workdir": token'),
    "listing_asked_once": ("agreement", 'lambda e: len({json.dumps(r["step"]) for r in e}) > 1',
                           "lambda e: False"),
    "mix_weights_rounded": ("sample_files", 'f"{names[c]}:{vec[c]:.9g}"',
                            'f"{names[c]}:{vec[c]:.6g}"'),
    "one_checkpoint_kept_as_two": ("checkpoint", "manager(os.path.join(workdir, LATEST), max(1, keep))",
                                   "manager(os.path.join(workdir, LATEST), max(2, keep))"),
    "reshaped_params_all_named": ("checkpoint", '", ".join(other[:4]) + (" ..." if len(other) > 4 else "")',
                                  '", ".join(other)'),
    "out_folder_lock_shared": ("workdir", "fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)",
                               "fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)"),
    "made_out_folder_kept": ("workdir", "      _remove_made(path, top)\n      raise\n",
                             "      raise\n"),
    "parents_of_out_kept": ("workdir", "    if path == top:\n      return", "    return"),
    "unlockable_folder_refused": (
        "workdir", '      logging.warning("%s: cannot lock the folder (%s); writing unlocked", path, e.strerror)',
        '      raise WorkdirError(f"{setting}={path}: cannot lock it") from e'),
    "out_folder_not_held": ("sample_files", "@_holding_out_lock\ndef write_samples(",
                            "def write_samples("),
    "seed_past_32_bits": ("config", 'def check_seed(seed, name: str = "seed", bound: int = 2 ** 32)',
                          'def check_seed(seed, name: str = "seed", bound: int = 2 ** 63)'),
    "float_seed_accepted": ("config", "if not (is_integer(seed) and 0 <= seed < bound):",
                            "if not (0 <= seed < bound):"),
    "variant_dict_as_pairs": ("config",
                              "    return flax.core.FrozenDict({k: _hashable(x) for k, x in v.items()})",
                              "    return tuple(sorted((k, _hashable(x)) for k, x in v.items()))"),
    "fresh_seed_unchecked": ("trainer", '    config_lib.check_seed(config.seed, "config.seed")  # a new run',
                             '    pass  # a new run'),
    "old_variant_unchecked": ("trainer", '    saved.setdefault("variant", {})', "    pass"),
    "call_override_trained": ("trainer", "  sampling.check_sampled_as_trained(model)  # refused now",
                              "  pass  # refused now"),
    "class_name_alone_compared": ("checkpoint", "not module or module == model_cls.__module__\n",
                                  "True\n"),
    "main_matches_the_library": ("checkpoint", '("__main__" in modules and LIBRARY_MODULE not in modules)',
                                 '("__main__" in modules)'),
    "overridden_call_sampled": ("sampling", "  if type(model).__call__ is not SampleRNN.__call__:",
                                "  if False:"),
    "rnn_layer_class_ignored": ("model", "    self.rnns = [self.rnn_layer_class(self.dim",
                                "    self.rnns = [RNNLayer(self.dim"),
    "out_features_ignored": ("model", "    self.output = WNDense(self.out_features, **wn)",
                             "    self.output = WNDense(self.q_levels, **wn)"),
    "state_width_from_rnn_type": ("steps", "  state = tuple(jnp.zeros(s.shape, s.dtype) for s in shapes)",
                                  "  state = tuple(jnp.zeros((1, model.n_rnn, model.dim)) for s in shapes)"),
    "teacher_gap_of_the_sampler_alone": (
        "sampling", "  return float(np.max(np.abs(lp - np.asarray(log_probs(logits, jnp.asarray(x))))))",
        "  return float(np.max(np.abs(lp - lp)))"),
    "unknown_cell_taken_for_lstm": ("layers", "  if rnn_type not in widths:", "  if False:"),
    "cost_fn_ignored": ("steps", "  cost = chunk_cost if cost_fn is None else cost_fn",
                        "  cost = chunk_cost"),
    "hash_skips_clip_0": ("splits", "for i in range(0, self.num_clips, rows):",
                          "for i in range(1, self.num_clips, rows):"),
    "fortran_split_memmapped": ("splits", "  if dtype.hasobject or fortran:",
                                "  if dtype.hasobject and fortran:"),
    "npz_unpickled": ("splits", "with np.load(path, allow_pickle=False) as z:",
                      "with np.load(path, allow_pickle=True) as z:"),
    "variant_keys_not_built": ("config",
                               "  return model_cls(**fields, **variant_fields(config, model_cls, fields))",
                               "  return model_cls(**fields)"),
    "plain_wav_past_4_gib": ("sample_files",
                             'return "WAV" if n_samples <= WAV_MAX_SAMPLES else "RF64"',
                             'return "WAV"'),
    "nonfinite_step_counted_in_the_mean": ("steps", "state.bits_count + jnp.where(finite, 1.0, 0.0)",
                                           "state.bits_count + 1.0"),
    "save_any_name_to_best": ("checkpoint", "    if which not in managers:\n",
                              "    if False:\n"),
    "class_vec_shape_unchecked": ("sampling", "  if class_vec.ndim != 2 or class_vec.shape[0] < 1 "
                                  "or class_vec.shape[1] != n_classes:\n", "  if False:\n"),
    "chunk_shape_unchecked": ("steps", "  check_chunk(model, batch)\n", ""),
    "init_length_unchecked": ("steps", "  if seq_len < top or seq_len % top:\n", "  if False:\n"),
    "config_file_exception_as_traceback": ("cli", "  except Exception as e:  # noqa: BLE001",
                                           "  except ZeroDivisionError as e:  # noqa: BLE001"),
    "config_without_base_keys_accepted": ("cli", "      check(config)\n", "      pass\n"),
    "class_level_of_silence_accepted": ("levels", "  if silent_rows.any():\n", "  if False:\n"),
    "packed_rate_unchecked": ("splits", "  if sample_rate is not None and rate is not None and "
                              "rate != sample_rate:\n", "  if False:\n"),
    "any_positive_rate_packed": ("packing", "  if sample_rate < MIN_SAMPLE_RATE:\n",
                                 "  if sample_rate <= 0:\n"),
    "baseline_drawn_one_way": ("sample_files", "  paper = paper_draw or class_rms is None\n",
                               "  paper = class_rms is None\n"),
    "ctrl_c_lands_anywhere": ("sample_files",
                              "  stop = signals.StopRequests(signals.SIGNALS if stop_on_signal else ())",
                              "  stop = signals.StopRequests(())"),
    "class_named_twice_accepted": ("sample_files", "  if twice:\n", "  if False:\n"),
    "q_levels_unbounded": ("config", "  if not 2 <= config.q_levels <= MAX_Q_LEVELS:\n",
                           "  if not 2 <= config.q_levels:\n"),
    "out_inside_src_packed": ("packing", "  check_out_outside(src, out)\n", ""),
    "a_file_called_missing": ("files", 'return "is a file, not a folder" if os.path.exists(path) '
                              'else "no such folder"', 'return "no such folder"'),
    "batched_split_unchecked": ("batches", "    check_split(split, n_classes)\n", ""),
    "evaluated_split_unchecked": ("cost", "    splits.check_split(split, self.model.n_classes)\n", ""),
    "baseline_config_checked_late": ("evaluation/run", '  if (baseline == "random" and not '
                                     'samples_lib.wav_files(samples_dir)\n',
                                     '  if (False and not samples_lib.wav_files(samples_dir)\n'),
    "unused_seconds_unsaid": ("packing", "  if unused >= 0.5:  # what follows each recording's "
                              "last whole clip\n", "  if False:\n"),
    "silent_clips_uncounted": ("packing", '      info["constant"] += _constant_clips(clips)',
                               '      info["constant"] += 0'),
    "only_the_first_file_checked_for_length": ("packing", "  short = {p: sec for p, sec in seconds.items() "
                                       "if counts[p] == 0}",
                                       "  short = {p: sec for p, sec in list(seconds.items())[:1] "
                                       "if counts[p] == 0}"),
    "rate_refusal_offers_a_setting_it_lacks": ("splits", 'if rate_setting.startswith("config.")',
                                               "if True"),
    "resume_diff_counts_only": ("trainer", '    if was is not None and now is not None and '
                                'was.get("clips") == now.get("clips"):\n', "    if False:\n"),
    "class_names_ascii_only": ("sample_files", 'return re.sub(r"[^\\w.-]+", "_", unicodedata',
                               'return re.sub(r"[^A-Za-z0-9_.-]+", "_", unicodedata'),
    "staged_split_counted_silence_free": ("packing", '    info["constant"] = sum(_constant_clips('
                                          'wav[i:i + 256]) for i in range(0, n, 256))',
                                          '    info["constant"] = 0'),
    "score_offers_the_rate_key": ("cost", 'rate_setting=f"the rate the checkpoint {where} was '
                                  'trained at")', 'rate_setting="config.sample_rate")'),
    "eval_setting_unnamed": ("evaluation/run", '        raise EvalError(f"{name} {v}: must be >= 1", '
                             'name)', '        raise EvalError(f"{name} {v}: must be >= 1")'),
    "location_warning_never_fires": ("packing", "      if g in where and where[g] != split:",
                                     "      if g in where and where[g] == split:"),
    "fractions_summing_past_one_planned": ("packing", "  if valid + test >= 1:\n", "  if False:\n"),
    "n_classes_from_the_meta_only": ("checkpoint", 'n = int(meta.get("n_classes") or config.n_classes)',
                                     'n = int(meta["n_classes"])'),
    "a_law_expand_promotes": ("quantize", "  k = 1.0 + math.log(a)", "  k = 1.0 + np.log(a)"),
    "eval_sid_dtype_passed_on": ("batches", "    sid = np.asarray(split.sid[rows], np.int32)\n    if pad:",
                                 "    sid = split.sid[rows]\n    if pad:"),
    "forced_audio_taken": ("sampling", "  if forced.size and not np.issubdtype(forced.dtype, np.integer):",
                           "  if False:"),
    "sample_count_float_taken": ("sampling", "if isinstance(v, (bool, np.bool_)) or not _is_int(v) or v < 1:",
                                 "if int(v) != v or v < 1:"),
    "stream_open_files_unchecked": ("sample_files", "  allow_open_files(len(files), f\"a stream of",
                                    "  (lambda *a: None)(len(files), f\"a stream of"),
    "open_files_limit_left_low": ("files", "  resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))",
                                  "  pass"),
    "failed_start_left_open": ("trainer", "    except BaseException:  # a failed start (Ctrl-C in the class "
                               "levels' pass too)\n      self.close_quietly()\n",
                               "    except BaseException:  # a failed start (Ctrl-C in the class "
                               "levels' pass too)\n"),
    "stop_save_failure_left_open": ("trainer", "        self.on_training_error()\n        raise\n"
                                    "      self.finish()", "        raise\n      self.finish()"),
    "hidden_wavs_read_as_clips": ("evaluation/samples", '                if f.lower().endswith(".wav") '
                                  'and not f.startswith(".")', '                if f.lower().endswith(".wav")'),
    "class_rms_reads_fixed_blocks": ("levels", "  rows = rows_per_read or max(1, _RMS_READ_BYTES // (8 * max(1, wav.shape[1])))",
                                     "  rows = rows_per_read or 256"),
    "class_ints_taken_as_names": ("sample_files", "    return names[c]\n  return str(c)",
                                  "    return str(c)\n  return str(c)"),
    "init_bound_without_sqrt3": ("layers", "-std * 3 ** 0.5, std * 3 ** 0.5)", "-std, std)"),
    "init_fan_out": ("layers", "    std = std_fn(shape[0])", "    std = std_fn(shape[-1])"),
    "classifier_trained_unlocked": ("evaluation/run", '  with files.exclusive(ckpt_dir.rstrip("/") + ".lock", '
                                    'f"training {what}"):', "  if True:"),
    "default_init_swapped": ("layers", "return orthogonal if n_in == n_out else lecun_uniform",
                             "return lecun_uniform if n_in == n_out else orthogonal"),
    "lstm_forget_bias_6": ("layers", "jnp.zeros((4 * h,)).at[h:2 * h].set(3.0))",
                           "jnp.zeros((4 * h,)).at[h:2 * h].set(6.0))"),
    "table_grad_kernels_swapped": ("layers", '  if kernel == "pallas":  # each device\'s rows, then',
                                   '  if kernel != "pallas":  # each device\'s rows, then'),
    "clips_renamed_one_by_one": ("files", "      write(tmp)\n    for tmp, path in staged:\n"
                                 "      os.replace(tmp, path)\n",
                                 "      write(tmp)\n      os.replace(tmp, path)\n    for _ in ():\n"
                                 "      pass\n"),
    # a session's review (2026-12-02): a notebook's kernel, a disk full half-way
    "notebook_kernel_ended": ("signals", "      if _quit_process:", "      if True:"),
    "scripts_raise_quit_now": ("cli", "    with signals.quitting_the_process():\n      return fn()",
                               "    if True:\n      return fn()"),
    "quit_now_skips_the_closes": ("trainer", "the kernel lives\n        bar.close()\n"
                                  "        self.close_quietly()\n",
                                  "the kernel lives\n        bar.close()\n"),
    "quit_now_saved_as_ctrl_c": ("trainer", "    except signals.QuitNow:\n      raise\n", ""),
    "stream_not_cut_back": ("sample_files", "      if o.frames > listed:  # left half-way through a block, or its manifest\n"
                            "        o.truncate(listed)\n", ""),
    "draw_settings_past_float32": ("sampling", "_FLOAT32_MAX = float(np.finfo(np.float32).max)",
                                   '_FLOAT32_MAX = float("inf")'),
    "nan_logits_drawn": ("sampling", "    if not np.isfinite(logp).all():", "    if False:"),
    "unweighted_row_leveled": ("levels", "  unweighted = ~(vecs.sum(-1) > 0)",
                               "  unweighted = vecs.sum(-1) < 0"),
    "a_law_past_full_scale": ("quantize", "xp.sign(y) * xp.minimum(x, 1.0)", "xp.sign(y) * x"),
    "system_files_packed": ("packing", "if not f.startswith(\".\") and f.lower() not in SYSTEM_FILES]",
                            "if not f.startswith(\".\")]"),
    "class_names_compared_as_typed": ("sample_files", "  return nfc.index(key) if key in nfc else None",
                                      "  return None"),
    "manifest_names_compared_as_typed": ("evaluation/samples",
                                         "    found = None if name is None else find_class(name, class_names)",
                                         "    found = list(class_names).index(name) "
                                         "if name in class_names else None"),
    "file_numbers_case_sensitive": ("sample_files", "    i = counts.get(lab.casefold(), 0)\n"
                                    "    counts[lab.casefold()] = i + 1",
                                    "    i = counts.get(lab, 0)\n    counts[lab] = i + 1"),
    "json_read_in_the_locale": ("splits", '      with open(path, encoding="utf-8") as f:\n        names = json.load(f)',
                                "      with open(path) as f:\n        names = json.load(f)"),
    "windows_fails_on_fcntl": ("__init__", 'if _sys.platform == "win32":', "if False:"),
    # a long-run operator's review (2026-12-02)
    "eval_clips_changed_on_resume": ("trainer", '"cond_dropout", "max_eval_clips")\n',
                                     '"cond_dropout")\n'),
    "resume_changes_unsaid": ("trainer", "  if changed:  # allowed", "  if False:  # allowed"),
    "no_checkpoint_promised": ("trainer", "    kept = saving or ckpt_lib.saved_steps(workdir, ckpt_lib.LATEST)",
                               "    kept = True"),
    "config_json_rewritten_idle": ("trainer", "    if self.start < self.total:  # a run with nothing",
                                   "    if True:  # a run with nothing"),
    "new_best_unsaid": ("trainer", '      verdict = f"new best, saved to {ckpt_lib.BEST}/{step}"',
                        '      verdict = "valid"'),
    "killed_saves_left": ("checkpoint", "create=True,\n                                             "
                          "cleanup_tmp_directories=True),", "create=True),"),
    "status_never_failed": ("trainer", '      self.status("failed", error=f"{type(e).__name__}: {e}")',
                            "      pass"),
    "stop_status_finished": ("trainer", '      self.status("stopped", signal=signal.Signals(code - 128).name '
                             'if code > 128 else None)', '      self.status("finished")'),
    "status_not_refreshed": ("trainer", '      self.writer.write(record)\n      self.status("running")\n',
                             "      self.writer.write(record)\n"),
    "status_error_raised": ("run_status", "  except OSError as e:", "  except ValueError as e:"),
    "gpu_reserved_beside_training": ("cli", '  os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")',
                                     "  pass"),
    # 2026-12-03: the default config path in a checkout under a folder with ':',
    # the config-error lines' key, argument and hint, list flags, cli.call's argv
    "config_path_colon_kept": ("cli", '  return relative if ":" not in relative else path', "  return path"),
    "config_argument_skipped": ("cli", '  bad = [a for a in argv[1:] if a.startswith("--config.")]',
                                '  bad = [a for a in argv[2:] if a.startswith("--config.")]'),
    "config_key_from_other_fields": ("cli", '  names = re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", text.split("Other fields")[0]',
                                     '  names = re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", text.split("Other fields")[-1]'),
    "list_flag_resplit": ("cli", "  values = flag.value if isinstance(flag.value, list) else str(flag.value).split(\",\")",
                          "  values = str(flag.value).split(\",\")"),
    "call_argv_first_skipped": ("cli", "  args = sys.argv[1:] if argv is None else [str(a) for a in argv]",
                                "  args = sys.argv[2:] if argv is None else [str(a) for a in argv]"),
    # a step read beside a train.py that removes steps (2026-12-03)
    "removed_step_not_chosen_again": ("checkpoint", "      if gone and attempt + 1 < tries:",
                                      "      if False:"),
    "numbered_step_not_looked_up_again": ("checkpoint", "      if gone and attempt + 1 < tries:",
                                          '      if gone and ckpt in ("best", "latest") and attempt + 1 < tries:'),
    "newer_best_unnoticed": ("checkpoint", "    return find_step(workdir, ckpt) != (sub, step)\n",
                             "    return False\n"),
    "every_read_error_called_damage": ("checkpoint", '      if isinstance(e, NOT_READ_FAILURES) or "RESOURCE_EXHAUSTED" in str(e):\n        raise\n',
                                       ""),
    "checkpoint_read_error_as_traceback": ("checkpoint", "    except Exception as e:  # noqa: BLE001 - orbax",
                                           "    except CheckpointReadError as e:  # noqa: BLE001 - orbax"),
    "damage_called_removal": ("checkpoint", "      gone = _removed(workdir, ckpt, sub, step)\n      if not gone:",
                              "      gone = True\n      if not gone:"),
    "clips_in_writing_evaluated": ("evaluation/samples",
                                   "    if busy:\n      raise _being_written(samples_dir)\n    return _read_clips",
                                   "    if False:\n      raise _being_written(samples_dir)\n    return _read_clips"),
    "class_index_past_the_last": ("sample_files", "token.isdecimal() and int(token) < len(names)",
                                  "token.isdecimal() and int(token) <= len(names)"),
    "foreign_manifest_paths_removable": ("sample_files", "          and os.path.basename(n) == n]",
                                         "          and True]"),
    "first_class_index_refused": ("sample_files", "    if not 0 <= c < len(names):",
                                  "    if not 1 <= c < len(names):"),
    "writer_checked_after_packing": ("evaluation/run", "  samples_lib.check_not_being_written(samples_dir)\n", ""),
    "folder_probe_blind": ("workdir", "      busy = e.errno in (errno.EAGAIN, errno.EACCES)",
                           "      busy = False"),
    "read_lock_dropped_at_once": ("workdir", "      fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)\n      busy = False",
                                  "      fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)\n"
                                  "      fcntl.flock(fd, fcntl.LOCK_UN)\n      busy = False"),
    "log_bars_redrawn_often": ("progress", '  if "TQDM_MININTERVAL" not in os.environ and not _is_terminal(stream):',
                               "  if False:"),
    "unroll_not_passed": ("sampling", "guided, unroll, batched_draws, b, n_samples, total, block)",
                          "guided, 1, batched_draws, b, n_samples, total, block)"),
    "batched_draws_not_passed": ("sampling", "guided, unroll, batched_draws, b, n_samples, total, block)",
                                 "guided, unroll, True, b, n_samples, total, block)"),
    "nan_checked_in_first_block": ("sampling", "    if not np.isfinite(logp).all():",
                                   "    if done == 0 and not np.isfinite(logp).all():"),
    "gru_input_bias_dropped": ("layers", "    xp = self.input(x)  # [B, F, G*H]",
                               "    xp = self.input(x) - (self.input.variables['params']['bias'] "
                               "if self.rnn_type == 'GRU' else 0)"),
    "prev_samples_init_swapped": ("model", 'init_type="he" if self.sample_input == "embedding" else "lecun"',
                                  'init_type="lecun" if self.sample_input == "embedding" else "he"'),
    "splits_by_recording": ("packing", "by_class.setdefault(r.sid, {}).setdefault(r.group, []).append(r)",
                            "by_class.setdefault(r.sid, {}).setdefault(r.path, []).append(r)"),
    "reader_cleans_leftovers": ("checkpoint", "  if not read_only:\n    return ocp.CheckpointManager(",
                                "  if True:\n    return ocp.CheckpointManager("),
    "bar_interval_env_overridden": ("progress", '  if "TQDM_MININTERVAL" not in os.environ and not _is_terminal(stream):',
                                    "  if not _is_terminal(stream):"),
}

MODULE_PATH = {m: f"samplernn_jax/{m}.py" for m in TESTS}
CONTROL = "control"  # no mutation: the tests must pass on the copy


def run_pytest(args: list[str], cwd: str, env: dict, timeout: float) -> tuple[int | None, str]:
  """pytest's exit code (None: it ran past ``timeout``) and stdout. Run in a
  process group of its own, killed whole on a timeout: a test's children
  (a train.py of 100 000 steps whose test never reached its ``finally``)
  would otherwise go on running beside the next mutants."""
  p = subprocess.Popen([sys.executable, "-m", "pytest", *args], cwd=cwd, env=env, text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
  try:
    out, _ = p.communicate(timeout=timeout)
  except BaseException as e:  # the timeout; Ctrl-C, which no longer reaches the group
    with contextlib.suppress(ProcessLookupError):
      os.killpg(p.pid, signal.SIGKILL)
    p.communicate()
    if not isinstance(e, subprocess.TimeoutExpired):
      raise
    return None, ""
  return p.returncode, out


def run_mutant(name: str) -> dict:
  """Applies one mutant to a copy of the repo and runs its module's tests.
  ``name`` CONTROL runs every module's tests on the unmutated copy: it must
  pass, or every kill of the run is suspect (a broken copy kills all)."""
  if name == CONTROL:
    module, old, new, tests = CONTROL, "", "", sorted({t for ts in TESTS.values() for t in ts})
  else:
    module, old, new = MUTANTS[name]
    tests = TESTS[module]
  path = MODULE_PATH.get(module)
  with tempfile.TemporaryDirectory() as tmp:
    copy = os.path.join(tmp, "repo")
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(
        ".git", "runs", "demo_samples", "__pycache__", ".pytest_cache", "*.egg-info"))
    if path is not None:
      target = os.path.join(copy, path)
      text = open(target).read()
      if text.count(old) != 1:
        return {"mutant": name, "module": module, "error": f"original text found "
                f"{text.count(old)} times in {path}"}
      with open(target, "w") as f:
        f.write(text.replace(old, new))
    env = dict(os.environ, PYTHONPATH=copy)  # the copy, not the installed tree
    t0 = time.time()
    code, out = run_pytest(["-q", "-x", "-p", "no:cacheprovider", *tests], copy, env,
                           _TIMEOUT.value)
    killed, tail = code != 0, (out.strip().splitlines()[-1:] if code is not None
                               else ["timeout"])
  return {"mutant": name, "module": module, "killed": killed,
          "seconds": round(time.time() - t0, 1), "pytest": tail[0] if tail else ""}


def _run():
  names = _ONLY.value or [CONTROL, *MUTANTS]
  unknown = [n for n in names if n not in MUTANTS and n != CONTROL]
  if unknown:
    raise ValueError(f"--only: unknown mutants {unknown}; expected names from MUTANTS")
  rows = []
  for name in names:
    row = run_mutant(name)
    rows.append(row)
    print(json.dumps(row), flush=True)
  control = [r for r in rows if r["mutant"] == CONTROL]
  judged = [r for r in rows if "killed" in r and r["mutant"] != CONTROL]
  killed = sum(r["killed"] for r in judged)
  print(json.dumps({"summary": True, "mutants": len(judged), "killed": killed,
                    "score": round(killed / max(1, len(judged)), 3),
                    "survived": [r["mutant"] for r in judged if not r["killed"]],
                    "errors": [r["mutant"] for r in rows if "error" in r],
                    "control_passed": (not control[0]["killed"]) if control else None}),
        flush=True)


if __name__ == "__main__":
  app.run(cli.absl_main(_run), flags_parser=cli.parse_flags)
