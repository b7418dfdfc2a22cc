from course_utils.generation import chat_text, generate


def test_chat_text_uses_the_template_and_opens_the_assistant_turn(offline_tokenizer):
    text = chat_text(offline_tokenizer, "안녕?", system="짧게 답하세요.")
    assert text.index("짧게 답하세요.") < text.index("안녕?")
    assert text.rstrip().endswith("assistant")


def test_generation_stops_at_eos(offline_model, offline_tokenizer):
    prompt = chat_text(offline_tokenizer, "What is the capital of France?")
    inputs = offline_tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    output = offline_model.generate(**inputs, max_new_tokens=60, do_sample=False, pad_token_id=offline_tokenizer.pad_token_id)
    new = output[0, inputs["input_ids"].shape[1]:]
    assert len(new) < 60 and int(new[-1]) == offline_tokenizer.eos_token_id


def test_left_padded_batch_gives_the_same_answers_as_one_by_one(offline_model, offline_tokenizer):
    prompts = [chat_text(offline_tokenizer, q) for q in ("What is 2 + 2?", "Name a color of the sky on a clear day.")]
    batched = generate(offline_model, offline_tokenizer, prompts, max_new_tokens=12)
    single = [generate(offline_model, offline_tokenizer, [p], max_new_tokens=12)[0] for p in prompts]
    assert batched == single
    assert offline_tokenizer.padding_side == "right"  # restored after generation
