"""The tiny TSN the Python end-to-end tests train (ResNet-18 at width 8 on 32 px frames of the
synthetic set): one place for its config, each test giving its own [train] and extra sections."""


def tiny_config(data, work_dir, train, extra=""):
    """TOML text: the model and data sections, [train] from the `train` dict (TOML literals as
    strings or numbers) with work_dir, then `extra`."""
    train_lines = "\n".join(f"{key} = {value}" for key, value in train.items())
    return f"""[model]
backbone = "resnet18"
width = 8
num_classes = 4
[data]
root = "{data}"
train_list = "{data}/train.list"
val_list = "{data}/val.list"
short_size = 40
target_size = 32
workers = 1
[train]
{train_lines}
work_dir = "{work_dir}"
{extra}
"""
