fn main() {
    print!("{}", serin::api::crds_yaml().expect("yaml"));
}
